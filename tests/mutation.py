"""Mutation testing over the code that decides results (`make mutation`; docs/mutation.md).

Runs mutmut (configured in pyproject.toml, [tool.mutmut]) over the chosen modules with 2 workers,
bounded by a time limit, then prints the per-module table: killed / survived / total and the score. A mutant that
times out counts as killed (the tests noticed); one no test reaches counts as survived.

    python tests/mutation.py                 # every module, 2 workers
    python tests/mutation.py imaging control # some modules
    python tests/mutation.py --report        # only the table, from the last runs
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTMUT = Path(sys.executable).with_name("mutmut")
OUT = ROOT / "mutants"
KILLED = {"killed", "timeout"}


@dataclass(frozen=True)
class Module:
    name: str
    path: str
    glob: str  # mutmut names mutants package.module.x_function__mutmut_N (methods: xǁClassǁmethod)


MODULES = (
    Module("imaging", "src/sketch2render/sketch/imaging.py", "sketch2render.sketch.imaging.*"),
    Module("control", "src/sketch2render/sketch/control.py", "sketch2render.sketch.control.*"),
    # Only the style selection and its softmax blend; the rest of the pipeline needs models.
    Module("selection", "src/sketch2render/render/selection.py", "sketch2render.render.selection.x_select_styles*"),
    Module("balance", "src/sketch2render/render/balance.py", "sketch2render.render.balance.*"),
    Module("quality", "src/sketch2render/render/quality.py", "sketch2render.render.quality.*"),
    Module("store", "src/sketch2render/jobs/store.py", "sketch2render.jobs.store.*"),
    Module("principals", "src/sketch2render/principals/__init__.py", "sketch2render.principals.*"),
    Module("deps", "src/sketch2render/api/deps.py", "sketch2render.api.deps.*"),
    Module("lexical", "src/sketch2render/retrieval/lexical.py", "sketch2render.retrieval.lexical.*"),
    Module("fusion", "src/sketch2render/retrieval/fusion.py", "sketch2render.retrieval.fusion.*"),
)


def run(modules: list[Module], workers: int, limit_s: int) -> float:
    """One bounded mutmut run over the chosen modules (one pass of the tests for coverage and
    stats, then each mutant with only the tests that cover its function); its chatty output goes
    to mutants/mutmut.log. On the time limit the whole process group stops and the table counts
    what finished (fast mutants run first)."""
    OUT.mkdir(exist_ok=True)
    started = time.monotonic()
    cmd = [str(MUTMUT), "run", "--max-children", str(workers), *(m.glob for m in modules)]
    with open(OUT / "mutmut.log", "w") as log:
        process = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            process.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()
            print(f"stopped after {limit_s} s; the table counts what finished", file=sys.stderr)
    return time.monotonic() - started


def statuses() -> dict[str, str]:
    """Every mutant's last status, from `mutmut results --all true`."""
    out = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    pairs = (line.strip().rsplit(": ", 1) for line in out.splitlines() if ": " in line)
    return {name: status for name, status in pairs}


def table(modules: list[Module], goal: float) -> tuple[str, bool]:
    """The markdown table of scores and whether every module that ran reaches the goal."""
    found = statuses()
    rows = ["| module | file | killed | survived | total | score |", "|---|---|---:|---:|---:|---:|"]
    ok = True
    for module in modules:
        mine = [s for name, s in found.items() if fnmatch.fnmatch(name, module.glob)]
        tried = [s for s in mine if s != "not checked"]
        killed = sum(s in KILLED for s in tried)
        if not tried:
            rows.append(f"| {module.name} | `{module.path}` | – | – | – | not run |")
            continue
        score = 100 * killed / len(tried)
        ok &= score >= goal
        rows.append(
            f"| {module.name} | `{module.path}` | {killed} | {len(tried) - killed} | {len(tried)} | {score:.0f} % |"
        )
    return "\n".join(rows), ok


def survivors(module: Module) -> list[str]:
    return sorted(n for n, s in statuses().items() if fnmatch.fnmatch(n, module.glob) and s not in KILLED)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(m.name for m in MODULES)}")
    parser.add_argument("--workers", type=int, default=2, help="mutmut --max-children (default 2)")
    parser.add_argument("--limit", type=int, default=5400, help="seconds for the whole run (default 5400)")
    parser.add_argument("--goal", type=float, default=85.0, help="per-module score to reach (default 85)")
    parser.add_argument("--report", action="store_true", help="print the table from the last runs only")
    parser.add_argument("--survivors", action="store_true", help="list the surviving mutants too")
    args = parser.parse_args(argv)
    by_name = {m.name: m for m in MODULES}
    unknown = [n for n in args.modules if n not in by_name]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(by_name)}")
    chosen = [by_name[n] for n in args.modules] or list(MODULES)
    if not args.report:
        took = run(chosen, args.workers, args.limit)
        print(f"{', '.join(m.name for m in chosen)}: {took:.0f} s (log: mutants/mutmut.log)", flush=True)
    text, ok = table(chosen, args.goal)
    print(text)
    (OUT / "scores.md").write_text(text + "\n")
    if args.survivors:
        for module in chosen:
            for name in survivors(module):
                print(f"survived: {name}")
    if not ok:
        print(f"below the goal of {args.goal:.0f} % killed in some module", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
