/**
 * CPU time of the processes the benchmarks start, read from Linux's /proc: which `workerd`
 * processes belong to this one, and how long each has been on a CPU. A process's time is the
 * sum over its threads of the first field of /proc/<pid>/task/<tid>/schedstat (nanoseconds,
 * so one request can be resolved); where the kernel has no schedstat, utime + stime from
 * /proc/<pid>/stat, in clock ticks (getconf CLK_TCK, 100 if unknown).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";

interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime, in clock ticks, of every thread, living or ended. */
  ticks: number;
}

/** /proc/<pid>/stat, or null once the process is gone. */
function readStat(pid: number | string): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // comm is in parentheses and may hold spaces or parentheses itself: the fields follow the last ")".
  const close = text.lastIndexOf(")");
  const fields = text.slice(close + 2).split(" ");
  return {
    pid: Number(pid),
    ppid: Number(fields[1]),
    comm: text.slice(text.indexOf("(") + 1, close),
    ticks: Number(fields[11]) + Number(fields[12]),
  };
}

/** True where this machine can be measured at all. */
export const HAS_PROC = existsSync("/proc/self/stat");

/** Nanoseconds a clock tick lasts. */
const TICK_NS = (() => {
  const out = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const hz = Number.parseInt(out.stdout ?? "", 10);
  return 1e9 / (Number.isFinite(hz) && hz > 0 ? hz : 100);
})();

/** Whether the kernel keeps schedstat, which times threads to the nanosecond. */
export const CPU_SOURCE: "schedstat" | "stat" = existsSync("/proc/self/schedstat") ? "schedstat" : "stat";

/** The pids of this process's descendants (children, their children …) whose command name is `comm`. */
export function descendants(comm: string, root = process.pid): number[] {
  const all: ProcStat[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(entry);
    if (stat !== null) all.push(stat);
  }
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const p of all) {
      if (p.ppid !== parent) continue;
      if (p.comm === comm) found.push(p.pid);
      walk(p.pid);
    }
  };
  walk(root);
  return found.sort((a, b) => a - b);
}

/**
 * The one `workerd` that `start()` brings up: the descendants named workerd after it, less the
 * ones there were before.
 */
export async function startedWorkerd<T>(start: () => Promise<T>): Promise<{ started: T; pid: number }> {
  const before = new Set(descendants("workerd"));
  const started = await start();
  const fresh = descendants("workerd").filter((pid) => !before.has(pid));
  if (fresh.length !== 1) throw new Error(`expected one new workerd process, found ${fresh.length}`);
  return { started, pid: fresh[0] as number };
}

/** Nanoseconds `pid` has spent on a CPU so far, all its threads together. */
export function cpuNs(pid: number): number {
  if (CPU_SOURCE === "schedstat") {
    let total = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // The thread ended between the listing and the read.
      }
    }
    return total;
  }
  const stat = readStat(pid);
  if (stat === null) throw new Error(`process ${pid} is gone`);
  return stat.ticks * TICK_NS;
}
