"""Pure domain models of extctl: manifests and version resolution.

Owns: immutable data types and pure functions over them. Must not: import subprocess, git,
kubernetes, network or clock-dependent modules, read files or log; callers feed data in and get
data (or an ``ExtctlError``) out.
"""
