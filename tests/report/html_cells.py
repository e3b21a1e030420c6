"""Reads an HTML report's tables as a reader sees them: each cell's class (its tone) and its text."""

from __future__ import annotations

from html.parser import HTMLParser


class Cells(HTMLParser):
    """The cells of one table (by id) as (class, text), row by row."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.depth = 0  # > 0 inside the table
        self.rows: list[list[tuple[str, str]]] = []
        self._cell: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and (self.depth or found.get("id") == self.table_id):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag == "td":
            self._cell = (found.get("class") or "", [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append((self._cell[0], " ".join(" ".join(self._cell[1]).split())))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[1].append(data)


def table(page: str, table_id: str) -> dict[str, list[tuple[str, str]]]:
    """Body rows of a table keyed by their first cell's first word (the scenario)."""
    parser = Cells(table_id)
    parser.feed(page)
    return {row[0][1].split()[0]: row for row in parser.rows if row}


def rows(page: str, table_id: str) -> list[list[tuple[str, str]]]:
    """Body rows of a table, in order (a writer's phases repeat, so no key)."""
    parser = Cells(table_id)
    parser.feed(page)
    return [row for row in parser.rows if row]
