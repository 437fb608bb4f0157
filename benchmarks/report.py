"""The tables `make bench` prints (bench.json holds every figure)."""

from __future__ import annotations

from typing import Any


def print_table(rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    print(
        f"{'image':42} {'ours':>7} {'seed':>7} {'vips':>7} {'floor':>7} {'least':>7} {'/vips':>6} {'/seed':>6}"
        f" {'/floor':>6} {'/least':>6} {'RSS ours/seed MB':>17} {'SSIM2 ours/seed/vips':>21}"
        f" {'main KB ours/seed/vips':>24}"
    )

    def kb(value: int | None) -> float | None:
        return value / 1024 if value is not None else None

    def cell(value: float | None, width: int, digits: int) -> str:
        return f"{value:{width}.{digits}f}" if value is not None else f"{'n/a':>{width}}"

    for row in rows:
        ms, ratio, rss, s2, main = row["ms"], row["ratio"], row["peak_rss_mb"], row["ssimulacra2"], row["main_bytes"]
        print(
            f"{row['image'][:42]:42} {cell(ms['ours'], 7, 1)} {cell(ms['seed'], 7, 1)} {cell(ms['vips'], 7, 1)}"
            f" {cell(ms['floor'], 7, 1)} {cell(ms['least'], 7, 1)} {cell(ratio['ours/vips'], 6, 2)}"
            f" {cell(ratio['ours/seed'], 6, 2)} {cell(ratio['ours/floor'], 6, 2)} {cell(ratio['ours/least'], 6, 2)}"
            f" {rss['ours']:8.0f}/{rss['seed']:<8.0f} {s2['ours']:6.1f}/{s2['seed']:6.1f}/{cell(s2.get('vips'), 6, 1)}"
            f" {main['ours'] / 1024:8.1f}/{main['seed'] / 1024:<7.1f}/{cell(kb(main.get('vips')), 7, 1)}"
        )
    print()
    for key, value in summary.items():
        print(f"{key}: {value}")


def print_phase(title: str, rounds: dict[str, dict[str, float]], ways: dict[str, str]) -> None:
    """One end-to-end phase: per round, the median ms of each of the two `ways` (key -> label), and their ratio."""
    print(f"\n{title} (median ms):")
    for name, figures in rounds.items():
        cells = "  ".join(f"{label} {figures[key]:7.1f}" for key, label in ways.items())
        print(f"  {name:30} {cells}  ratio {figures['ratio']:.2f}")


def print_end_to_end(writes: dict[str, Any], reads: dict[str, Any]) -> None:
    print_phase(
        f"end to end per upload, {writes['image']}, +{writes['round_trip_ms']} ms per S3 request",
        writes["configs"],
        {"concurrent": "renditions written concurrently", "one at a time": "one at a time"},
    )
    print_phase(
        f"end to end per upload, {reads['image']} ({reads['bytes'] / 1e6:.1f} MB), its body arriving at",
        reads["bandwidths"],
        {name: name for name in ("decoded as it arrives", "after it has arrived")},
    )
