"""`make bench-hostile-mail`: how long each ~1 MB adversarial mail takes to be parsed or refused.

Every case in tests/support/hostile_mail.py (nested HTML, tab runs, header folding, deep
MIME nesting, a huge line, many attachments, …) goes through `parse_email`, the function the
IMAP reader and the Mailgun webhook run on their parser thread, `ROUNDS` times; the worst
wall-clock and CPU time per case are kept. Wall time includes whatever else the machine is
doing (the load average is recorded); CPU time is the parser's own cost.

Writes results/bench/hostile_mail.json and results/bench/hostile_mail.png, prints one line.
The target is every case under 1 s.
"""
from __future__ import annotations

import gc
import json
import os
import platform
from pathlib import Path
from typing import Dict, List

from tests.support.hostile_mail import CASES, Outcome, measure

OUT_DIR = Path(__file__).resolve().parents[1] / "results" / "bench"
ROUNDS = 3
TARGET_S = 1.0


def worst_of(case: str) -> Dict[str, object]:
    runs: List[Outcome] = []
    for _ in range(ROUNDS):
        gc.collect()
        runs.append(measure(case))
    return {"bytes": len(CASES[case]()), "worst_wall_s": round(max(r.wall_s for r in runs), 4),
            "worst_cpu_s": round(max(r.cpu_s for r in runs), 4), "refused": runs[0].refused,
            "text_chars": runs[0].text_chars}


def plot(results: Dict[str, Dict[str, object]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(names) + 1.5))
    ax.barh(names, [results[n]["worst_wall_s"] for n in names], color="#8fb3d9", label="wall (worst)")
    ax.barh(names, [results[n]["worst_cpu_s"] for n in names], color="#2b5d8c", height=0.4, label="CPU (worst)")
    ax.axvline(TARGET_S, color="red", linestyle="--", linewidth=1, label="1 s target")
    ax.invert_yaxis()
    ax.set_xlabel("seconds per ~1 MB mail (parse_email: parsed, or refused for quarantine)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    results = {case: worst_of(case) for case in CASES}
    worst = max(results, key=lambda c: results[c]["worst_wall_s"])
    worst_cpu = max(results, key=lambda c: results[c]["worst_cpu_s"])
    report = {
        "target_s": TARGET_S,
        "setup": {"rounds": ROUNDS, "python": platform.python_version(), "cpus": os.cpu_count(),
                  "load_average_before": round(load_before, 2),
                  "load_average_after": round(os.getloadavg()[0], 2)},
        "results": results,
        "worst": {"wall_case": worst, "wall_s": results[worst]["worst_wall_s"],
                  "cpu_case": worst_cpu, "cpu_s": results[worst_cpu]["worst_cpu_s"]},
        "passed": all(r["worst_wall_s"] < TARGET_S for r in results.values()),
    }
    (OUT_DIR / "hostile_mail.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, OUT_DIR / "hostile_mail.png")
    refused = sum(1 for r in results.values() if r["refused"])
    print(f"bench-hostile-mail {'PASS' if report['passed'] else 'FAIL'} (target < {TARGET_S:.0f} s each): "
          f"{len(results)} cases, {refused} refused for quarantine; worst wall {results[worst]['worst_wall_s']:.3f} s "
          f"({worst}), worst CPU {results[worst_cpu]['worst_cpu_s']:.3f} s ({worst_cpu}); "
          f"load average {load_before:.1f}")


if __name__ == "__main__":
    main()
