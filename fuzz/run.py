"""`make fuzz SECONDS=N FORMAT=png`: seed, then run the atheris target for N seconds under the memory ceiling.

The fuzzer runs as a child process with RLIMIT_DATA of 1 GiB (heap and anonymous mappings: the function's memory)
and libFuzzer's -rss_limit_mb=1024, each input bounded by -timeout. A native crash, timeout or memory overrun stops
libFuzzer (it writes the input under .fuzz/findings/<format>/); the run restarts it for the time left. The
corpus grows in .fuzz/corpus/<format>/ across runs. Prints executions, coverage and findings at the end."""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from fuzz import seeds

ROOT = seeds.ROOT
MEMORY_LIMIT = 1024**3  # the function's default memory, 1024 MB
INPUT_TIMEOUT_S = 20  # per input; the function's default timeout is 60 s for a whole upload, writes included


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))
    os.nice(19)  # shared machine: fuzzing only gets the CPU nobody else wants


def fuzz_once(fmt: str, corpus: Path, findings: Path, seconds: int) -> tuple[int, str]:
    command = [
        sys.executable,
        "-m",
        "fuzz.target",
        str(corpus),
        f"-dict={ROOT / 'fuzz' / 'dicts' / f'{fmt}.dict'}",
        f"-max_total_time={seconds}",
        f"-max_len={seeds.MAX_SEED_BYTES}",
        f"-timeout={INPUT_TIMEOUT_S}",
        f"-rss_limit_mb={MEMORY_LIMIT // 1024**2}",
        f"-artifact_prefix={findings}/",
        "-print_final_stats=1",
        "-reload=0",
    ]
    env = {
        **os.environ,
        "FUZZ_FINDINGS": str(findings),
        "MALLOC_ARENA_MAX": "2",
        "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}",
    }
    process = subprocess.run(
        command, cwd=ROOT, env=env, preexec_fn=limit_memory, capture_output=True, text=True, check=False
    )
    return process.returncode, process.stderr


def minimize(finding: Path, seconds: int) -> int:
    """libFuzzer's -minimize_crash on a finding, under the same limits; writes <finding>.min beside it."""
    out = finding.with_suffix(finding.suffix + ".min")
    command = [
        sys.executable,
        "-m",
        "fuzz.target",
        "-minimize_crash=1",
        f"-max_total_time={seconds}",
        f"-timeout={INPUT_TIMEOUT_S}",
        f"-rss_limit_mb={MEMORY_LIMIT // 1024**2}",
        f"-exact_artifact_path={out}",
        str(finding),
    ]
    env = {**os.environ, "FUZZ_RAISE": "1", "MALLOC_ARENA_MAX": "2", "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    subprocess.run(command, cwd=ROOT, env=env, preexec_fn=limit_memory, check=False)
    print(f"{finding}: {finding.stat().st_size} bytes -> {out}: {out.stat().st_size if out.exists() else '?'} bytes")
    return 0


def summarise(log: str) -> dict[str, int]:
    stats = {"execs": 0, "cov": 0, "ft": 0, "corpus": 0}
    for line in log.splitlines():
        if match := re.match(r"stat::number_of_executed_units:\s+(\d+)", line):
            stats["execs"] += int(match[1])
    status = re.findall(r"#\d+\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)", log)
    if status:
        cov, ft, corp = status[-1]
        stats.update(cov=int(cov), ft=int(ft), corpus=int(corp))
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", default="all", choices=(*seeds.FORMATS, "all"))
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--minimize", type=Path, help="shrink this finding (it must still fail) and stop")
    args = parser.parse_args(argv)
    if args.minimize:
        return minimize(args.minimize, args.seconds)
    work = Path(os.environ.get("FUZZ_WORKDIR", ROOT / ".fuzz"))
    corpus, findings = work / "corpus" / args.format, work / "findings" / args.format
    findings.mkdir(parents=True, exist_ok=True)
    print(f"{args.format}: {seeds.build(args.format, corpus)} inputs in {corpus}", flush=True)
    deadline = time.monotonic() + args.seconds
    logs: list[str] = []
    stops = 0
    while (left := int(deadline - time.monotonic())) > 5:
        code, log = fuzz_once(args.format, corpus, findings, left)
        logs.append(log)
        (work / f"{args.format}.log").write_text("\n".join(logs))
        if code == 0:
            break
        stops += 1  # libFuzzer found a crash, timeout or memory overrun and wrote the input
        tail = [line for line in log.splitlines() if "ERROR" in line or "Test unit written" in line]
        print(f"libFuzzer stopped (exit {code}): {' | '.join(tail[-3:])}", flush=True)
    stats = summarise("\n".join(logs))
    # libFuzzer also keeps inputs slower than 10 s (-report_slow_units): worth a look, within the time bound.
    names = sorted(path.name for path in findings.iterdir() if not path.name.endswith((".txt", ".min")))
    found = [name for name in names if not name.startswith("slow-unit-")]
    slow = [name for name in names if name.startswith("slow-unit-")]
    print(
        f"{args.format}: {stats['execs']} executions, coverage {stats['cov']} edges / {stats['ft']} features,"
        f" corpus {stats['corpus']}, libFuzzer stops {stops}, findings {len(found)}, slow inputs {len(slow)}",
        flush=True,
    )
    for name in found:
        print(f"  finding: {findings / name}")
    for name in slow:
        print(f"  slow input (over 10 s, under the {INPUT_TIMEOUT_S} s bound): {findings / name}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
