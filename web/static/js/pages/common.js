// On every page: times as "3 min ago"; pages without async loading are ready at once.

import { humanizeTimes } from "../lib/format.js";

humanizeTimes();
if (!document.body.hasAttribute("data-self-ready")) document.body.dataset.ready = "true";
