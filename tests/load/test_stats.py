"""Locust's CSV rows become endpoint names as users wrote them: `GET /path`, and a request the user
already named with its method keeps that name (not `POST POST /orders`)."""

from __future__ import annotations

from pathlib import Path

from chaosgate.load.stats import read_history, read_totals

HEADER = (
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
    "99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,"
    "Total Average Response Time,Total Min Response Time,Total Max Response Time,"
    "Total Average Content Size\n"
)


def row(kind: str, name: str) -> str:
    return f"1796400000,10,{kind},{name},5,0,10,11,12,13,14,15,16,17,18,19,20,50,0,10,11.5,5,20,100\n"


def test_history_names_each_endpoint_once_with_its_method(tmp_path: Path) -> None:
    history = tmp_path / "load_stats_history.csv"
    history.write_text(
        HEADER + row("POST", "POST /orders") + row("GET", "/orders") + row("", "Aggregated"),
        encoding="utf-8",
    )
    assert [r.name for r in read_history(history)] == ["POST /orders", "GET /orders", "Aggregated"]


def test_totals_use_the_same_names(tmp_path: Path) -> None:
    stats = tmp_path / "load_stats.csv"
    stats.write_text(
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
        "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,"
        "80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
        "post,post /orders,40,1,10,11,5,20,100,4,0.1,10,11,12,13,14,15,16,17,18,19,20\n",
        encoding="utf-8",
    )
    assert list(read_totals(stats, 10.0)) == ["post /orders"]
