#!/usr/bin/python3
# mongo_wire_mock.py -- a scripted MongoDB wire-protocol server for test_store_mongo_wire.c
#
# What it is for: letting the C test see exactly what the MongoDB store sends
# and choose exactly what it gets back, over a real libmongoc connection.
# It is a thin pipe around Debian's python3-mockupdb; every decision (what to
# expect, what to answer) is made by the C test.
# Not for: evaluating queries (it is not a database) or proving atomicity
# (only a real server can; see test_store_mongo.c).
#
# Run with Debian's /usr/bin/python3 (the python3 first on PATH may be a
# separate build that does not see Debian's modules).
#
# Protocol, one line each way:
#   stdout, first line:   "PORT <n>"               listening on 127.0.0.1:<n>
#                    or:  "SKIP <reason>"          mockupdb is not available; exit 0
#   stdout, per request:  "<command name>\t<the command as canonical extended JSON>"
#   stdin,  per request:  "<reply as canonical extended JSON>" or "HANGUP" (close the connection)
# Handshakes (isMaster/hello), ping and endSessions are answered here and not
# reported. The server advertises maxWireVersion 17 (MongoDB 6.0), which
# libmongoc 1.23 needs; it advertises no logicalSessionTimeoutMinutes, so the
# driver sends no sessions. EOF on stdin stops the server.
#
# Usage: mongo_wire_mock.py [port]    (default: any free port)

import sys

try:
    from bson import json_util
    from mockupdb import MockupDB
except ImportError as exc:  # pragma: no cover - depends on the machine
    print("SKIP python3-mockupdb is not installed (%s)" % exc, flush=True)
    sys.exit(0)

HELLO = {
    "ismaster": True,
    "isWritablePrimary": True,
    "minWireVersion": 0,
    "maxWireVersion": 17,
    "maxBsonObjectSize": 16 * 1024 * 1024,
    "maxMessageSizeBytes": 48000000,
    "maxWriteBatchSize": 100000,
    "ok": 1,
}
QUIET = {"ismaster", "hello", "ping", "endsessions"}


def autoreply(request):
    name = (request.command_name or "").lower()
    if name not in QUIET:
        return False
    if name in ("ismaster", "hello"):
        return request.reply(HELLO)
    return request.ok()


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else None
    server = MockupDB(port=port)
    server.autoresponds(autoreply)
    server.run()
    print("PORT %d" % server.port, flush=True)
    canonical = json_util.CANONICAL_JSON_OPTIONS
    try:
        while True:
            request = server.receives(timeout=3600)
            doc = json_util.dumps(request.doc, json_options=canonical)
            print("%s\t%s" % (request.command_name, doc), flush=True)
            line = sys.stdin.readline()
            if not line:
                break
            line = line.strip()
            if line == "HANGUP":
                request.hangup()
            else:
                request.reply(json_util.loads(line))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
