"""A globals archive a drill runs as its throwaway server's superuser holds only what ``pg_dumpall
--globals-only`` writes: roles, their memberships and settings, tablespaces, comments and a few ``SET``\\ s.

Creating superuser roles needs a superuser, so the globals cannot go to the non-superuser loader; an archive
altered on a storage could then add ``COPY ... TO PROGRAM`` (a shell as the OS user ``postgres``). :func:`refused`
splits the script into statements as the server does (quotes, ``E''`` strings, quoted identifiers, nested
comments) and names the first one that is not of those kinds; anything that could make the server and this
reading disagree (a dollar quote, a psql ``:variable``, a backslash outside a string, ``standard_conforming_strings
= off``, a ``U&`` name) is refused too. None of the kinds accepted evaluates an expression: their values are
literals. A role setting that loads a library at login by a path (``session_preload_libraries``,
``local_preload_libraries``) or says where they are (``dynamic_library_path``) is refused too: any ``.so`` on the
machine would run as the OS user ``postgres``; a bare name (``'auto_explain'``) is one of the server's own.
"""

from __future__ import annotations

import re

_ALLOWED = re.compile(
    r"(?:CREATE|ALTER|DROP|COMMENT\s+ON|SECURITY\s+LABEL(?:\s+FOR\s+\S+)?\s+ON)\s+(?:ROLE|USER|GROUP|TABLESPACE)\b"
    r"|GRANT\b|REVOKE\b"
    r"|SET\s+(?:default_transaction_read_only|client_encoding|row_security)\s*(?:=|TO)\s*[\w']+"
    r"|SET\s+standard_conforming_strings\s*(?:=|TO)\s*'?on'?",
    re.IGNORECASE,
)
# role settings that load a library into the server at every login of the role, as the OS user postgres (the
# production superuser's after a restore, corral's own in a drill's throwaway before confine), or say where from
# a library of the server's own folder by its bare name (``'auto_explain'``) stays: no path, so no file elsewhere
_LIBRARIES = re.compile(r"^ALTER\s+(?:ROLE|USER|GROUP)\b.*?\bSET\s+(session_preload_libraries|"
                        r"local_preload_libraries|dynamic_library_path)\b(.*)$", re.IGNORECASE | re.DOTALL)
_INSTALLED = re.compile(r"\s*(?:TO|=)\s*'[A-Za-z0-9_.-]+'(?:\s*,\s*'[A-Za-z0-9_.-]+')*\s*", re.IGNORECASE)
_CREATE_TABLESPACE = re.compile(r"CREATE\s+TABLESPACE\b", re.IGNORECASE)
_SHOWN = 80


def statements(sql: str) -> list[str] | str:
    """The statements of ``sql`` (comments out, strings kept), or the reason it cannot be read safely."""
    found, current, at, size = [], [], 0, len(sql)
    while at < size:
        char = sql[at]
        if char == "-" and sql.startswith("--", at):
            end = sql.find("\n", at)
            at = size if end == -1 else end
            current.append(" ")
            continue
        if char == "/" and sql.startswith("/*", at):
            depth, at = 1, at + 2
            while depth and at < size:
                if sql.startswith("/*", at):
                    depth, at = depth + 1, at + 2
                elif sql.startswith("*/", at):
                    depth, at = depth - 1, at + 2
                else:
                    at += 1
            if depth:
                return "a comment that does not end"
            current.append(" ")
            continue
        if char in "'\"":
            if at > 0 and sql[at - 1] == "&":
                return "a `U&` string or name (its escapes could spell what this reading does not see)"
            escapes = char == "'" and at > 0 and sql[at - 1] in "eE" and (at < 2 or not _word(sql[at - 2]))
            end = _closing(sql, at, char, escapes)
            if end < 0:
                return "a quoted string that does not end"
            current.append(sql[at:end])
            at = end
            continue
        if char == ";":
            statement = " ".join("".join(current).split())
            if statement:
                found.append(statement)
            current, at = [], at + 1
            continue
        if char in "$:\\":
            return f"`{char}` outside a string (a dollar quote, a psql variable or meta-command)"
        current.append(char)
        at += 1
    if "".join(current).strip():
        return "a statement without its `;`"
    return found


def _word(char: str) -> bool:
    return char.isalnum() or char in "_$"


def _closing(sql: str, start: int, quote: str, escapes: bool) -> int:
    """The index after the quote that closes the one at ``start`` (doubled quotes, and backslashes in E'')."""
    at = start + 1
    while at < len(sql):
        if escapes and sql[at] == "\\":
            at += 2
            continue
        if sql[at] == quote:
            if sql.startswith(quote * 2, at):
                at += 2
                continue
            return at + 1
        at += 1
    return -1


def without_tablespaces(sql: str) -> str:
    """``sql`` (which :func:`refused` accepted) without its ``CREATE TABLESPACE`` statements, for a throwaway: run
    there as the OS user ``postgres``, one makes a folder in any folder of that user's on the machine and chmods it
    0700 (``/var/run/postgresql``: no local client reaches the production server). The statements are written
    back one a line, comments out (runs of white space in a literal become one space: a throwaway's roles)."""
    found = statements(sql)
    if isinstance(found, str):
        raise ValueError(found)
    return "".join(f"{statement};\n" for statement in found if not _CREATE_TABLESPACE.match(statement))


def refused(sql: str) -> str | None:
    """None when every statement of ``sql`` is one ``pg_dumpall --globals-only`` writes, else why not."""
    found = statements(sql)
    if isinstance(found, str):
        return found
    for statement in found:
        shown = statement if len(statement) <= _SHOWN else statement[:_SHOWN - 3] + "..."
        if not _ALLOWED.match(statement):
            return f"`{shown}` is not a role, membership or tablespace statement"
        library = _LIBRARIES.match(statement.replace('"', ""))  # a quoted name is the same setting
        if library and (library.group(1).lower() == "dynamic_library_path" or not _INSTALLED.fullmatch(library[2])):
            return (f"`{shown}` sets {library.group(1).lower()} to a library by its path, which the server would "
                    "load at a login")
    return None
