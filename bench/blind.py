"""Issue 23's targets for the blind models, from the committed metrics (no run):

- at each fixed task's level, the blind model within 0.3 dB of the task's best fixed model
  (PrivateTest, metrics/evaluate.json);
- at every level of the robustness sweep (metrics/robustness.json): the blind model above the
  noisy input and the classical baseline, and at least 1 dB above each fixed-level model at the
  levels more than a factor 2 from that model's training level.

    python bench/blind.py
"""

import json
import sys
from pathlib import Path

from fer_denoise.noise import noise_level
from fer_denoise.params import load_params

EVALUATION, ROBUSTNESS = Path("metrics/evaluate.json"), Path("metrics/robustness.json")
WITHIN_DB, ABOVE_FIXED_DB, FAR_FACTOR = 0.3, 1.0, 2.0


def main() -> int:
    if not (EVALUATION.is_file() and ROBUSTNESS.is_file()):
        sys.exit(f"{EVALUATION} or {ROBUSTNESS} is missing: run `dvc repro` (or `dvc pull`)")
    params = load_params()
    evaluation, robustness = (json.loads(p.read_text()) for p in (EVALUATION, ROBUSTNESS))
    missed = 0
    print("At each fixed task's level (PrivateTest, all faces, flip ensemble):")
    for task, scores in evaluation.items():
        if "blind" not in scores:
            continue
        fixed = {
            m: s["psnr"]
            for m, s in scores.items()
            if m not in ("noisy", "best_filter", "best", "blind")
        }
        best = max(fixed, key=fixed.get)
        gap = scores["blind"]["psnr"] - fixed[best]
        missed += gap < -WITHIN_DB
        print(
            f"  {task:>14}: blind {scores['blind']['psnr']:.2f} dB, best fixed {best} "
            f"{fixed[best]:.2f}: {gap:+.2f} ({'met' if gap >= -WITHIN_DB else 'MISSED'}, "
            f">= -{WITHIN_DB})"
        )
    trained = {t: noise_level(params.spec(t)) for t in params.noise.tasks}
    for kind, curves in robustness.items():
        levels = list(curves["noisy"])
        names = list(curves)
        print(
            f"\n{kind} sweep (the first {params.analysis.robustness_images} PrivateTest faces, dB):"
        )
        print(f"  {'level':>6} " + " ".join(f"{name[:18]:>18}" for name in names) + "  checks")
        for level in levels:
            blind = curves["blind"][level]
            checks = []
            for name in names:
                if name == "blind":
                    continue
                task = name.split(" ")[0]
                if task not in trained:  # the noisy input, the classical baseline
                    ok = blind > curves[name][level]
                    checks.append(f"{'>' if ok else 'NOT >'} {name}")
                else:
                    ratio = max(float(level) / trained[task], trained[task] / float(level))
                    if ratio <= FAR_FACTOR:
                        continue
                    ok = blind >= curves[name][level] + ABOVE_FIXED_DB
                    checks.append(f"{'+1dB' if ok else 'NOT +1dB'} {name}")
                missed += not ok
            failed = "; ".join(check for check in checks if check.startswith("NOT"))
            values = " ".join(f"{curves[name][level]:18.2f}" for name in names)
            print(f"  {level:>6} {values}  {failed or 'all met'}")
    print(f"\n{missed} target(s) missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
