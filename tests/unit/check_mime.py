#!/usr/bin/python3
"""Strict reader for messages built by mime_build (run by test_mime.c).

usage: check_mime.py MESSAGE.eml key=value ...

Parses MESSAGE with email.policy.default and fails (exit 1, reasons on
stderr) on any defect of the message, of a part or of a header field, and on
any expectation not met.  Keys: from_name from_addr to_name to_addr subject
message_id text html (compared after CRLF -> LF), structure (e.g.
"multipart/mixed(multipart/alternative(text/plain,text/html),application/pdf)"),
attach=PATH|TYPE (repeatable, in order: file name, type and bytes),
A later key=value overrides an earlier one (except attach, header, noheader).
header=Name:value (exact decoded value), noheader=Name, fold=78 (every line
of the top-level header section at most that long).
"""
import email
import email.policy
import os
import sys


def structure(part):
    if part.is_multipart():
        inner = ",".join(structure(p) for p in part.iter_parts())
        return "%s(%s)" % (part.get_content_type(), inner)
    return part.get_content_type()


def lf(s):
    return s.replace("\r\n", "\n")


def check_wire(data, fold, bad):
    if b"\0" in data or any(b > 127 for b in data):
        bad.append("NUL or 8-bit octet on the wire")
    if data.replace(b"\r\n", b"").find(b"\r") >= 0 or data.replace(b"\r\n", b"").find(b"\n") >= 0:
        bad.append("bare CR or LF")
    lines = data.split(b"\r\n")
    for i, line in enumerate(lines):
        if len(line) > 998:
            bad.append("line %d is %d octets" % (i + 1, len(line)))
    if fold:
        for line in lines[: lines.index(b"")]:
            if len(line) > fold:
                bad.append("header line over %d: %r" % (fold, line))


def check_defects(msg, bad):
    for part in msg.walk():
        if part.defects:
            bad.append("%s defects: %r" % (part.get_content_type(), part.defects))
        for name, value in part.items():
            if value.defects:
                bad.append("%s: defects %r" % (name, value.defects))


def check_body(msg, want, bad):
    for kind in ("text", "html"):
        if kind not in want:
            continue
        sub = "plain" if kind == "text" else "html"
        body = msg.get_body(preferencelist=(sub,))
        if body is None or body.get_content_type() != "text/" + sub:
            bad.append("no text/%s part" % sub)
            continue
        if body.get_content_charset() != "utf-8":
            bad.append("%s charset %r" % (kind, body.get_content_charset()))
        got = body.get_content()
        if lf(got) != lf(want[kind][-1]):
            bad.append("%s differs:\n got %r\nwant %r" % (kind, got, want[kind][-1]))


def check_attachments(msg, want, bad):
    atts = list(msg.iter_attachments()) if msg.is_multipart() else []
    expect = want.get("attach", [])
    if len(atts) != len(expect):
        bad.append("%d attachments, want %d" % (len(atts), len(expect)))
        return
    for part, spec in zip(atts, expect):
        path, ctype = spec.split("|")
        name = os.path.basename(path)
        with open(path, "rb") as f:
            data = f.read()
        if part.get_filename() != name:
            bad.append("file name %r, want %r" % (part.get_filename(), name))
        if part.get_content_type() != ctype:
            bad.append("%s: type %s, want %s" % (name, part.get_content_type(), ctype))
        if part.get_content_disposition() != "attachment":
            bad.append("%s: disposition %r" % (name, part.get_content_disposition()))
        if part.get_payload(decode=True) != data:
            bad.append("%s: bytes differ" % name)


def check_headers(msg, want, bad):
    for role in ("from", "to"):
        if role + "_addr" not in want:
            continue
        hdr = msg[role]
        if hdr is None or len(hdr.addresses) != 1:
            bad.append("%s: not one address" % role)
            continue
        addr = hdr.addresses[0]
        if addr.addr_spec != want[role + "_addr"][-1]:
            bad.append("%s address %r" % (role, addr.addr_spec))
        # RFC 5322 §3.2.2: a run of white space in a phrase is one space;
        # this also absorbs CPython gh-128110 (the space between two
        # encoded-words of a display name is kept), not a split word.
        name, expect = addr.display_name, want.get(role + "_name", [""])[-1]
        if " ".join(name.split()) != " ".join(expect.split()):
            bad.append("%s name %r, want %r" % (role, name, expect))
    if "subject" in want and str(msg["subject"]) != want["subject"][-1]:
        bad.append("subject %r, want %r" % (str(msg["subject"]), want["subject"][-1]))
    if "message_id" in want and str(msg["message-id"]) != want["message_id"][-1]:
        bad.append("message-id %r" % str(msg["message-id"]))
    if str(msg["mime-version"]) != "1.0":
        bad.append("MIME-Version %r" % msg["mime-version"])
    if msg["date"] is None or msg["date"].datetime is None:
        bad.append("no valid Date")
    for spec in want.get("header", []):
        name, value = spec.split(":", 1)
        got = msg.get_all(name)
        if got is None or len(got) != 1 or str(got[0]) != value:
            bad.append("header %s: %r, want %r" % (name, got, value))
    for name in want.get("noheader", []):
        if msg[name] is not None:
            bad.append("unexpected header %s" % name)


def main():
    path, args = sys.argv[1], sys.argv[2:]
    want = {}
    for a in args:
        key, value = a.split("=", 1)
        want.setdefault(key, []).append(value)
    with open(path, "rb") as f:
        data = f.read()
    bad = []
    check_wire(data, int(want.get("fold", ["0"])[-1]), bad)
    msg = email.message_from_bytes(data, policy=email.policy.default)
    check_defects(msg, bad)
    check_headers(msg, want, bad)
    check_body(msg, want, bad)
    check_attachments(msg, want, bad)
    if "structure" in want and structure(msg) != want["structure"][-1]:
        bad.append("structure %s, want %s" % (structure(msg), want["structure"][-1]))
    for b in bad:
        print("check_mime: " + b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
