#!/usr/bin/env python3
"""Fails when two top-level modules of src/ import each other (directly or in a longer circle).

Reads `use crate::...` and `crate::x::` paths in code (comments and test modules are ignored,
so doc links do not count). Run from the repository root: `python3 scripts/check-imports.py`.
"""
import glob
import re
import sys

# Items re-exported at the crate root, and the module that owns them.
ROOT_ITEMS = {
    "Secret": "secret", "Client": "client", "ClientBuilder": "client", "Endpoint": "client",
    "RequestBuilder": "client", "Response": "client", "redirect": "client", "Error": "error",
    "Result": "error", "RetryPolicy": "retry", "RetryClass": "retry",
    "RateLimitState": "ratelimit", "AuditEvent": "audit",
}

graph = {}
for path in glob.glob("src/**/*.rs", recursive=True):
    module = path[len("src/"):-len(".rs")].split("/")[0]
    if module == "lib":
        continue
    text = open(path, encoding="utf-8").read().split("#[cfg(test)]\nmod tests")[0]
    code = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
    deps = set(re.findall(r"crate::(\w+)", code))
    for body in re.findall(r"use crate::\{([^;]*)\};", code, re.S):
        for part in re.split(r",(?![^{]*\})", body):
            name = part.strip().split("::")[0].split("{")[0].strip()
            if name:
                deps.add(name)
    graph.setdefault(module, set()).update(ROOT_ITEMS.get(d, d) for d in deps)
graph = {m: {d for d in ds if d in graph and d != m} for m, ds in graph.items()}

# Depth-first search for a circle.
state = {}
def visit(m, trail):
    state[m] = "open"
    for d in sorted(graph[m]):
        if state.get(d) == "open":
            circle = trail[trail.index(d):] + [d]
            sys.exit("import circle: " + " -> ".join(circle))
        if d not in state:
            visit(d, trail + [d])
    state[m] = "done"

for m in sorted(graph):
    if m not in state:
        visit(m, [m])
for m in sorted(graph):
    print(f"{m} -> {', '.join(sorted(graph[m])) or '(nothing)'}")
print("no import circle")
