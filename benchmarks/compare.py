"""Compare two git revisions of imagemapper on the quick benchmark suite.

    python benchmarks/compare.py REV_A REV_B [--rounds 3] [--workloads W1,W2,W3]
                                 [--size 1024] [--workdir DIR] [--keep]

Each revision is checked out with ``git worktree add`` and built and
installed (``pip install --no-deps --no-build-isolation --target``) into its
own temporary directory, which is put first on ``PYTHONPATH``; everything
else (numpy, dask, ...) comes from the current environment, and the
benchmark code is the *current* checkout's ``benchmarks/`` (so a revision
older than the benchmarks can be measured). Cargo builds share one target
directory (``~/.cache/imagemapper-compare/target``) so the dependencies are
compiled once.

The suite then runs ``--rounds`` times per revision, alternating A, B, A, B,
... (one repetition per round), and for every workload and implementation
prints the median time of each revision, B ÷ A, and a verdict: a revision is
called faster only when all its times beat all the other's (the ranges do
not overlap); otherwise "same (within noise)".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CARGO_TARGET = os.path.expanduser("~/.cache/imagemapper-compare/target")


def sh(cmd: list[str], **kw) -> str:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, text=True, stdout=subprocess.PIPE, **kw).stdout


def build(rev: str, workdir: str) -> tuple[str, str, str]:
    """Worktree + install of ``rev``; returns (sha, worktree, site dir)."""
    sha = sh(["git", "-C", ROOT, "rev-parse", "--verify", f"{rev}^{{commit}}"]).strip()
    tree = os.path.join(workdir, f"tree-{sha[:12]}")
    site = os.path.join(workdir, f"site-{sha[:12]}")
    if not os.path.isdir(tree):
        sh(["git", "-C", ROOT, "worktree", "add", "--detach", tree, sha])
    if not os.path.isdir(os.path.join(site, "imagemapper")):
        env = dict(os.environ, CARGO_TARGET_DIR=CARGO_TARGET)
        env.pop("PYTHONPATH", None)
        sh(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
             "--no-build-isolation", "--target", site, tree],
            env=env,
        )  # fmt: skip
    return sha, tree, site


def runSuite(site: str, args: argparse.Namespace, jsonPath: str) -> dict:
    env = dict(os.environ, PYTHONPATH=site)
    cmd = [sys.executable, os.path.join(HERE, "run.py"), "--quick", "--reps", "1",
           "--workloads", args.workloads, "--json", jsonPath, "--no-distributed"]  # fmt: skip
    if args.size:
        cmd += ["--size", str(args.size)]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    with open(jsonPath) as f:
        return json.load(f)


def collect(result: dict, into: dict) -> None:
    """Append every (workload, implementation) time of one suite run."""
    for wname, wres in result.items():
        if not isinstance(wres, dict):
            continue
        if wname == "W3":
            groups = {f"W3 {op}": v["results"] for op, v in wres.items()}
        elif "results" in wres:
            groups = {wname: wres["results"]}
        elif wname == "W5":
            groups = {"W5": wres}
        else:
            continue
        for g, res in groups.items():
            for impl, r in res.items():
                if isinstance(r, dict) and r.get("times"):
                    into.setdefault((g, impl), []).extend(r["times"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("rev_a")
    ap.add_argument("rev_b")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workloads", default="W1,W2,W3")
    ap.add_argument("--size", type=int, default=None, help="image side (quick default 1024)")
    ap.add_argument("--workdir", default=None, help="where worktrees and installs go")
    ap.add_argument("--keep", action="store_true", help="keep the worktrees and installs")
    args = ap.parse_args()

    workdir = args.workdir or tempfile.mkdtemp(prefix="imagemapper-compare-")
    os.makedirs(workdir, exist_ok=True)
    trees = []
    try:
        revs = {}
        for label, rev in (("A", args.rev_a), ("B", args.rev_b)):
            sha, tree, site = build(rev, workdir)
            trees.append(tree)
            revs[label] = (rev, sha, site)
        times: dict[str, dict] = {"A": {}, "B": {}}
        for r in range(args.rounds):
            for label in ("A", "B") if r % 2 == 0 else ("B", "A"):
                rev, sha, site = revs[label]
                print(f"round {r + 1}/{args.rounds}: {label} = {rev} ({sha[:10]})", flush=True)
                res = runSuite(site, args, os.path.join(workdir, f"{label}-{r}.json"))
                collect(res, times[label])
        print()
        print(f"A = {args.rev_a} ({revs['A'][1][:10]}), B = {args.rev_b} ({revs['B'][1][:10]}); "
              f"{args.rounds} rounds each, alternating")  # fmt: skip
        print()
        print("| workload | implementation | A median | B median | B ÷ A | verdict |")
        print("|---|---|---|---|---|---|")
        verdicts = {"A": 0, "B": 0}
        for key in sorted(set(times["A"]) | set(times["B"])):
            ta, tb = times["A"].get(key), times["B"].get(key)
            if not ta or not tb:
                print(f"| {key[0]} | {key[1]} | {'-' if not ta else ''} | "
                      f"{'-' if not tb else ''} | - | only one revision has it |")  # fmt: skip
                continue
            ma, mb = statistics.median(ta), statistics.median(tb)
            if max(tb) < min(ta):
                verdict = "B faster"
                verdicts["B"] += 1
            elif max(ta) < min(tb):
                verdict = "A faster (B regressed)"
                verdicts["A"] += 1
            else:
                verdict = "same (within noise)"
            print(f"| {key[0]} | {key[1]} | {ma * 1e3:.1f} ms | {mb * 1e3:.1f} ms | "
                  f"{mb / ma:.2f} | {verdict} |")  # fmt: skip
        print()
        print(f"B faster in {verdicts['B']} rows, A faster in {verdicts['A']} rows.")
        return 0
    finally:
        if not args.keep:
            for tree in trees:
                subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree],
                               check=False)  # fmt: skip
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
