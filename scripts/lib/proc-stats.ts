/**
 * CPU and memory of processes and of the whole machine, read from Linux's /proc (proc(5)), for the
 * benchmarks: a figure per row means little on a shared 2-core machine unless it says how busy the
 * machine was and who used the cores.
 *
 * Units: CPU in microseconds (clock ticks of USER_HZ = 100, i.e. 10 ms resolution), memory in bytes.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** utime + stime of a process (all its threads), in microseconds. @throws when the process is gone. */
export function processCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** Resident set size of a process now (VmRSS), in bytes; 0 when /proc has no figure. */
export function processRss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** A reading of the machine's CPU counters (first line of /proc/stat), in microseconds. */
export interface MachineCpuSample {
  /** Time the CPUs spent on anything but idle and I/O wait, summed over CPUs. */
  busyMicros: number;
  /** All time, summed over CPUs. */
  totalMicros: number;
  atMs: number;
}

/** The machine's CPU counters now. */
export function machineCpu(): MachineCpuSample {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal (guest time is already in user)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busyMicros: busy * 10_000, totalMicros: (busy + idle! + iowait!) * 10_000, atMs: performance.now() };
}

/** How busy the machine was between two readings: cores busy on average, out of `cores`. */
export function machineBusy(from: MachineCpuSample, to: MachineCpuSample): { busyCores: number; cores: number } {
  const cores = cpus().length;
  const share = to.totalMicros > from.totalMicros ? (to.busyMicros - from.busyMicros) / (to.totalMicros - from.totalMicros) : 0;
  return { busyCores: share * cores, cores };
}

/** "1.93 of 2 cores busy (the service 0.98)": a machine reading and one process's part of it. */
export function describeBusy(from: MachineCpuSample, to: MachineCpuSample, part?: { label: string; cpuMicros: number }): string {
  const { busyCores, cores } = machineBusy(from, to);
  const seconds = (to.atMs - from.atMs) / 1000;
  const own = part && seconds > 0 ? ` (${part.label} ${(part.cpuMicros / 1e6 / seconds).toFixed(2)})` : '';
  return `${busyCores.toFixed(2)} of ${cores} cores busy${own}`;
}
