"""The extctl sandbox: a local Kubernetes API emulator plus a throwaway PostgreSQL for Helm's SQL driver.

Used by the test suite and by ``make demo``; never imported by ``controller/``. It gives the real
helm binary and the real ``kubernetes`` client something real to talk to on a machine that has no
Docker engine and no kube-apiserver.
"""
