#!/usr/bin/env python3
"""CPython's own test suite as the judge (make check-cpython).

Runs Debian's /usr/bin/python3 -m test on each module below, once without greenshim and
once under LD_PRELOAD, and prints per module the test cases run, failed and errored in both
modes. Fails (exit 1) if a case that passes without the shim fails or errors under it,
unless docs/limits.md names it in its section "CPython test cases excluded", with a reason.
"""
import argparse
import os
import re
import subprocess
import sys
import time

MODULES = [
    "test_threading", "test_thread", "test_threading_local", "test_queue",
    "test_threadsignals", "test_socket", "test_socketserver", "test_selectors",
    "test_subprocess", "test_signal", "test_concurrent_futures", "test_httpservers",
]
# Test resources a module needs to run at all (regrtest's -u). test_socketserver's servers
# and clients are all on localhost.
RESOURCES = {"test_socketserver": "network"}
# Cases left out in both modes, because they test the machine, not threads. On a VM whose
# /dev/vsock exists but whose host answers no connection to the local CID (Firecracker),
# ThreadedVSOCKSocketStreamTest's connect() never returns, without the shim too, and its
# hang would end test_socket's run before half of its cases.
IGNORE = {"test_socket": ["*VSOCK*"]}
PYTHON = "/usr/bin/python3"  # not a wrapper script (pyenv's python3 may come first on PATH)
CASE = re.compile(r"^(test\w*) \(([\w.]+)\)[^\n]*?\.\.\. ?(.*)$")
OUTCOMES = {"ok": "ok", "FAIL": "fail", "ERROR": "error"}


def excluded(limits_md):
    """Case names (module.Class.test) listed in docs/limits.md's exclusion section."""
    names, inside = set(), False
    with open(limits_md, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                inside = "CPython test cases excluded" in line
            elif inside:
                names.update(re.findall(r"`(test\.[\w.]+)`", line))
    return names


def run(module, env, timeout):
    """Outcome per case, and the exit status (None on timeout)."""
    cmd = [PYTHON, "-m", "test", "-v", "--timeout", str(timeout), module]
    if module in RESOURCES:
        cmd[3:3] = ["-u", RESOURCES[module]]
    for pattern in IGNORE.get(module, []):
        cmd[3:3] = ["-i", pattern]
    try:
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout + 60, text=True, errors="replace")
        out, status = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        status = None
    cases = {}
    pending = None  # a case whose outcome follows on a later line (it printed first)
    for line in out.splitlines():
        m = CASE.match(line)
        if m:
            name = f"{m.group(2)}"
            if not name.endswith("." + m.group(1)):
                name = f"{name}.{m.group(1)}"
            word = m.group(3).split(" ")[0] if m.group(3) else ""
            if word in OUTCOMES:
                cases[name] = OUTCOMES[word]
                pending = None
            elif word.startswith("skipped") or word == "expected":
                cases[name] = "skip"
                pending = None
            else:
                pending = name
        elif pending is not None and line.strip() in OUTCOMES:
            cases[pending] = OUTCOMES[line.strip()]
            pending = None
    return cases, status


def counts(cases):
    run_ = sum(1 for v in cases.values() if v != "skip")
    return run_, sum(v == "fail" for v in cases.values()), sum(v == "error" for v in cases.values())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True, help="libgreenshim.so to preload")
    ap.add_argument("--limits", required=True, help="docs/limits.md")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per module and mode")
    ap.add_argument("modules", nargs="*", default=MODULES)
    a = ap.parse_args()
    if not os.access(PYTHON, os.X_OK):
        sys.exit(f"check-cpython: {PYTHON} is missing")
    skip = excluded(a.limits)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LD_PRELOAD", "GREEN_"))}
    shim = dict(base, LD_PRELOAD=os.path.abspath(a.lib))
    regressions = []
    print(f"{'module':28} {'without the shim':>22} {'under the shim':>22}   (run/failed/errored)")
    for module in a.modules:
        t0 = time.time()
        native, ns = run(module, base, a.timeout)
        green, gs = run(module, shim, a.timeout)
        # Never reported under the shim (the run crashed or hung) counts as failed.
        worse = sorted(n for n, v in native.items()
                       if v == "ok" and n not in skip and green.get(n) in ("fail", "error", None))
        if gs is None:
            worse.append(f"{module}: timed out under the shim")
        regressions += worse
        fmt = lambda c, s: "%d/%d/%d%s" % (*counts(c), "" if s is not None else " (timeout)")
        print(f"{module:28} {fmt(native, ns):>22} {fmt(green, gs):>22}   {time.time() - t0:.0f} s", flush=True)
        for n in worse:
            print(f"    passes without the shim, not under it: {n} ({green.get(n, 'not run')})", flush=True)
    print(f"{len(regressions)} case(s) pass without the shim and fail under it")
    sys.exit(1 if regressions else 0)


if __name__ == "__main__":
    main()
