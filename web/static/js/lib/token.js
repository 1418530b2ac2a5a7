// The API token field: remembered for this tab only (sessionStorage), never sent anywhere but our API.

const KEY = "zone-explorer-token";

export function bindTokenField(input) {
  if (!input) return;
  try {
    const saved = sessionStorage.getItem(KEY);
    if (saved && !input.value) input.value = saved;
  } catch { /* storage disabled */ }
  input.addEventListener("change", () => {
    try { sessionStorage.setItem(KEY, input.value.trim()); } catch { /* storage disabled */ }
  });
}

export function tokenValue(input) {
  return (input && input.value.trim()) || "";
}
