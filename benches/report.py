#!/usr/bin/env python3
"""Runs the criterion benches N times and prints the BENCHMARKS.md target table.

Each figure is the median, over N runs, of criterion's median estimate in that run;
every ratio compares two benchmarks of the same run first, then takes the median of the
per-run ratios. Usage: python3 benches/report.py [runs]   (default 3)
"""
import json, os, statistics, subprocess, sys

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRIT = os.path.join(ROOT, "target", "criterion")
BATCH = 1024


def median_ns(bench_id):
    path = os.path.join(CRIT, *bench_id.split("/"), "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def run_once():
    for bench in ("checks", "threads", "durable"):
        subprocess.run(["cargo", "bench", "-q", "--bench", bench], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t = {}
    for group in ("cold_1M", "in_cache_1k"):
        for name in ("baseline_hashmap_hit", "can_send", "check_send", "should_push", "naive_can_send", "naive_should_push"):
            t[f"{group}/{name}"] = median_ns(f"{group}/{name}") / BATCH
        for case in ("muted", "allowed"):
            for who in ("engine", "naive"):
                t[f"{group}/{who}/{case}"] = median_ns(f"{group}_can_send_by_sender/{who}/{case}") / BATCH
    for pct in ("0pct", "5pct", "50pct"):
        for who in ("engine", "naive"):
            t[f"push/{who}/{pct}"] = median_ns(f"push_targets_10k/{who}/{pct}") / 10_000
    for name in ("mute_unmute_member", "set_clear_notification_level", "module_mute_unmute", "naive_mute_unmute_member"):
        t[f"mut/{name}"] = median_ns(f"mutations/{name}") / (2 * BATCH)
    for name in ("system_clock_now_ms", "manual_clock_now_ms", "can_send_muted_on_system_clock"):
        t[f"clock/{name}"] = median_ns(f"clock/{name}")
    for group in ("threads_cold_1M", "threads_in_cache_1k"):
        for label, readers in (("1_thread", 1), ("2_threads", 2), ("2_threads_1pct_writes", 2)):
            t[f"{group}/{label}"] = BATCH * readers / median_ns(f"{group}/can_send/{label}") * 1e3  # M checks/s
    for label in ("in_memory", "every_10ms", "never", "every_write"):
        t[f"durable/{label}"] = 2 * BATCH / median_ns(f"durable_mutations/mute_unmute_member/{label}") * 1e9  # ops/s
    for label in ("in_memory", "durable"):
        t[f"dchecks/{label}"] = median_ns(f"durable_checks/can_send/{label}") / BATCH
    for label in ("from_log", "from_snapshot"):
        t[f"reopen/{label}"] = median_ns(f"reopen_1M_entries/{label}") / 1e9  # s
    return t


def main():
    runs = []
    for i in range(RUNS):
        print(f"run {i + 1}/{RUNS} ...", file=sys.stderr)
        runs.append(run_once())

    def med(f):
        return statistics.median(f(r) for r in runs)

    rows = []

    def target(measure, value, goal, ok, fmt="{:.2f}"):
        rows.append((measure, fmt.format(value), goal, "pass" if ok else "MISS"))

    v = med(lambda r: r["cold_1M/can_send"] / r["cold_1M/baseline_hashmap_hit"])
    target("`can_send`, cold (1M set) / B", v, "<= 2.5", v <= 2.5)
    v = med(lambda r: r["in_cache_1k/can_send"] / r["in_cache_1k/baseline_hashmap_hit"])
    target("`can_send`, in cache / Bc", v, "<= 3", v <= 3)
    v = med(lambda r: r["cold_1M/should_push"] / r["cold_1M/baseline_hashmap_hit"])
    target("`should_push`, cold / B", v, "<= 1.5", v <= 1.5)
    v = med(lambda r: r["push/engine/5pct"] / r["in_cache_1k/baseline_hashmap_hit"])
    target("`push_targets` 10k, 5% non-default, per member / Bc", v, "<= 0.6", v <= 0.6)
    v = med(lambda r: r["push/engine/0pct"])
    target("`push_targets` 10k, 0% non-default, ns per member", v, "no per-member hashing", v < 1.0)
    for group in ("threads_cold_1M", "threads_in_cache_1k"):
        v = med(lambda r: r[f"{group}/2_threads"] / r[f"{group}/1_thread"])
        target(f"2 threads vs 1, read-only ({group[8:]})", v, ">= 1.8", v >= 1.8)
        v = med(lambda r: r[f"{group}/2_threads_1pct_writes"] / r[f"{group}/2_threads"])
        target(f"2 threads + 1% writes vs read-only ({group[8:]})", v, ">= 0.9", v >= 0.9)
    for name in ("mute_unmute_member", "set_clear_notification_level", "module_mute_unmute"):
        v = med(lambda r: 1e3 / r[f"mut/{name}"])
        target(f"mutations/s, one thread: {name}", v, ">= 1 M/s", v >= 1.0, "{:.2f} M/s")
    v = med(lambda r: r["durable/every_10ms"] / 1e3)
    target("durable mutations/s, every-10-ms sync, one thread", v, ">= 200 k/s", v >= 200, "{:.0f} k/s")
    v = med(lambda r: r["durable/every_write"] / 1e3)
    target("durable mutations/s, every-write sync (report only)", v, "-", True, "{:.1f} k/s")
    for label in ("from_log", "from_snapshot"):
        v = med(lambda r: r[f"reopen/{label}"])
        target(f"reopen with 1M active entries, {label.replace('_', ' ')}", v, "< 2 s", v < 2.0, "{:.2f} s")
    v = med(lambda r: r["dchecks/durable"] / r["dchecks/in_memory"])
    target("`can_send` on a durable engine / in-memory", v, "not slower (~1.0)", v <= 1.1)

    print("| target | measured (median of %d runs) | goal | result |" % RUNS)
    print("|---|---:|---|---|")
    for r in rows:
        print("| %s | %s | %s | %s |" % r)

    print()
    print("| vs naive (same run) | mutegate ns/op | naive ns/op | mutegate faster by |")
    print("|---|---:|---:|---:|")
    pairs = []
    for group in ("cold_1M", "in_cache_1k"):
        pairs += [(f"{group} can_send (random sender)", f"{group}/can_send", f"{group}/naive_can_send"),
                  (f"{group} should_push", f"{group}/should_push", f"{group}/naive_should_push"),
                  (f"{group} can_send, muted sender", f"{group}/engine/muted", f"{group}/naive/muted"),
                  (f"{group} can_send, allow-listed sender", f"{group}/engine/allowed", f"{group}/naive/allowed")]
    for pct in ("0pct", "5pct", "50pct"):
        pairs.append((f"push_targets 10k, {pct[:-3]}% non-default (per member)", f"push/engine/{pct}", f"push/naive/{pct}"))
    pairs.append(("mute + unmute a member (per op)", "mut/mute_unmute_member", "mut/naive_mute_unmute_member"))
    for label, a, b in pairs:
        ratio = med(lambda r: r[b] / r[a])
        print(f"| {label} | {med(lambda r: r[a]):.1f} | {med(lambda r: r[b]):.1f} | {ratio:.2f}x |")

    print()
    print("| raw figure (median of runs) | value |")
    print("|---|---:|")
    for key in ("cold_1M/baseline_hashmap_hit", "in_cache_1k/baseline_hashmap_hit", "cold_1M/can_send", "in_cache_1k/can_send",
                "cold_1M/check_send", "in_cache_1k/check_send", "cold_1M/should_push", "in_cache_1k/should_push"):
        print(f"| {key} | {med(lambda r: r[key]):.1f} ns |")
    for key in ("clock/system_clock_now_ms", "clock/manual_clock_now_ms", "clock/can_send_muted_on_system_clock"):
        print(f"| {key} | {med(lambda r: r[key]):.1f} ns |")
    for group in ("threads_cold_1M", "threads_in_cache_1k"):
        for label in ("1_thread", "2_threads", "2_threads_1pct_writes"):
            print(f"| {group} {label} | {med(lambda r: r[f'{group}/{label}']):.1f} M checks/s |")


def memory():
    out = subprocess.run(["cargo", "bench", "-q", "--bench", "memory"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    print()
    print("| memory, live heap bytes per active entry at 1M entries | bytes/entry | goal | result |")
    print("|---|---:|---|---|")
    for line in out.splitlines():
        if line.startswith("memory/"):
            parts = line.split()
            per = float(parts[3])
            ok = "pass" if per <= 96 else "MISS"
            print(f"| {parts[0][7:]} ({parts[1]} entries) | {per:.1f} | <= 96 | {ok} |")


if __name__ == "__main__":
    main()
    memory()
