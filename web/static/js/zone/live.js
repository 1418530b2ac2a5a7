// The zone page follows its jobs: while any job of the task and optimizer is queued or running, the zone is
// fetched again every POLL_MS (one request at a time: the next waits for the previous to end) and redrawn when its
// data version moved; the count of results says how far it has filled. Polling stops when no job runs.

export const POLL_MS = 2000;

export class LiveZone {
  /** `refresh()` fetches the zone once (and calls `update` with what it found); `nodes` show the count. */
  constructor(refresh, { count, state, interval = POLL_MS }) {
    this.refresh = refresh;
    this.nodes = { count, state };
    this.interval = interval;
    this.running = 0;
    this.timer = null;
    this.ticking = false;
  }

  /** What the latest zone answer said: its number of results (null while empty) and of active jobs. */
  update(results, runningJobs) {
    this.running = runningJobs || 0;
    if (results !== null) {
      this.nodes.count.hidden = false;
      this.nodes.count.textContent = `${results.toLocaleString()} result${results === 1 ? "" : "s"}`;
      document.body.dataset.resultCount = String(results);
    }
    this.nodes.state.textContent = this.running
      ? `live: updating while ${this.running} job${this.running === 1 ? " runs" : "s run"}`
      : "";
    document.body.dataset.live = this.running ? "on" : "off";
    if (!this.ticking) this.arm();
  }

  /** Schedule the next poll while a job runs; `<body data-poll>` says "armed" or, with none to follow, "stopped". */
  arm() {
    if (this.running > 0 && this.timer === null) this.timer = setTimeout(() => this.tick(), this.interval);
    document.body.dataset.poll = this.timer === null ? "stopped" : "armed";
  }

  async tick() {
    this.timer = null;
    this.ticking = true;
    document.body.dataset.poll = "fetching";
    try {
      await this.refresh();
    } finally {
      this.ticking = false;
      this.arm();
    }
  }
}
