#!/usr/bin/env python3
"""Summarises scripts/bench_network.sh's raw.tsv: a table on stdout and a
chart (network.png, drawn by gnuplot) in the results folder.

    bench_network_report.py RAW_TSV RESULTS_DIR "CAPTION"

Per configuration and step: the median wall time over the runs; per
configuration: the median of the runs' totals, bytes over the link, HTTP
requests to the server and gocachefs's own CPU seconds (medians of totals).
"""
import csv
import os
import statistics
import subprocess
import sys

raw_path, results, caption = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.DictReader(open(raw_path), delimiter="\t"))

configs = list(dict.fromkeys(r["config"] for r in rows))
steps = list(dict.fromkeys(r["step"] for r in rows))
steps.sort(key=lambda s: s != "restore")  # the tarball's download comes first


def step_median(config, step):
    values = [float(r["seconds"]) for r in rows if r["config"] == config and r["step"] == step]
    return statistics.median(values) if values else None


def total_median(config, field):
    runs = {}
    for r in rows:
        if r["config"] == config:
            runs[r["run"]] = runs.get(r["run"], 0) + float(r[field])
    return statistics.median(runs.values())


totals = {c: total_median(c, "seconds") for c in configs}
floor = totals.get("native-warm")

header = f"{'config':<20}" + "".join(f"{s + '_s':>10}" for s in steps)
header += f"{'total_s':>10}{'x_floor':>9}{'link_MiB':>10}{'requests':>10}{'gcf_cpu_s':>10}"
print(header)
for c in configs:
    line = f"{c:<20}"
    for s in steps:
        m = step_median(c, s)
        line += f"{m:>10.2f}" if m is not None else f"{'-':>10}"
    ratio = f"{totals[c] / floor:.2f}x" if floor else "-"
    line += f"{totals[c]:>10.2f}{ratio:>9}{total_median(c, 'link_bytes') / 1048576:>10.1f}"
    line += f"{total_median(c, 'requests'):>10.0f}{total_median(c, 'gocachefs_cpu_s'):>10.2f}"
    print(line)
print()
print("link MiB per step (median):")
print(f"{'config':<20}" + "".join(f"{s + '_MiB':>12}" for s in steps))
for c in configs:
    line = f"{c:<20}"
    for s in steps:
        values = [float(r["link_bytes"]) / 1048576 for r in rows if r["config"] == c and r["step"] == s]
        line += f"{statistics.median(values):>12.1f}" if values else f"{'-':>12}"
    print(line)
print(f"({caption})")
print("x_floor = total / native-warm's total; link_MiB = both directions at the go command's end of the link;")
print("requests = HTTP requests the servers received; gcf_cpu_s = gocachefs's own CPU time (user + system)")

# The chart: one stacked bar per configuration, a segment per step.
data = os.path.join(results, "network.dat")
with open(data, "w") as f:
    f.write("config " + " ".join(steps) + "\n")
    for c in configs:
        f.write(c + " " + " ".join(f"{step_median(c, s) or 0:.2f}" for s in steps) + "\n")
script = f"""
set terminal pngcairo size 1000,560 font "sans,11"
set output "{os.path.join(results, 'network.png')}"
set title "A fresh CI job with a warm team cache\\n{{/*0.8 {caption}}}"
set ylabel "wall time, seconds (median)"
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border -1
set boxwidth 0.6
set key outside right top
set grid ytics
set xtics rotate by -20
plot for [i=2:{len(steps) + 1}] "{data}" using i:xtic(1) title columnheader(i)
"""
try:
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
except (OSError, subprocess.CalledProcessError) as e:
    print(f"bench: no chart: gnuplot failed ({e})", file=sys.stderr)
