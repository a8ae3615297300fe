"""Reading repository credentials: the credentials file and the single-host environment form.

Owns: ``load_credentials`` (``--repo-credentials FILE`` / ``EXTCTL_REPO_CREDENTIALS_FILE`` plus the
``EXTCTL_REPO_HOST`` form, merged into one ``CredentialStore``), ``parse_credentials_text`` (the YAML
format, every problem located as ``FILE:LINE:COL: credentials[N].field: ...``), ``parse_host``
(``host[:port][/prefix]``) and reading secret values from files (Kubernetes Secret volumes). The old
``EXTCTL_REPO_USERNAME``/``_PASSWORD``/``_TOKEN`` variables only work together with
``EXTCTL_REPO_HOST``; without it they are refused with an error saying what to add.
Must not: talk to the network, or put a secret value into an error (errors name the file, the entry
and the variable, never a value). See docs/credentials.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from controller.catalog.credentials import DOCS, Binding, CredentialStore, RepoCredentials, prefix_segments
from controller.errors import CredentialsInvalid

FILE_ENV = "EXTCTL_REPO_CREDENTIALS_FILE"
ENV_PREFIX = "EXTCTL_REPO"
API_VERSION = "extctl.dev/v1alpha1"
KIND = "RepositoryCredentials"
ENTRY_FIELDS = ("host", "username", "usernameFile", "passwordFile", "tokenFile", "insecure")
MAX_FILE_BYTES = 1024 * 1024


def load_credentials(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> CredentialStore:
    """The store from the credentials file (``path``, else ``$EXTCTL_REPO_CREDENTIALS_FILE``) and the
    ``EXTCTL_REPO_HOST`` form; an empty store when neither is configured."""
    env = os.environ if environ is None else environ
    bindings: list[Binding] = []
    file_name = str(path) if path else env.get(FILE_ENV)
    if file_name:
        bindings += read_credentials_file(Path(file_name))
    single = binding_from_env(env)
    if single is not None:
        bindings.append(single)
    return CredentialStore(bindings)


# ------------------------------------------------------------------------------------------- file
def read_credentials_file(path: Path) -> list[Binding]:
    try:
        raw = path.read_bytes()[: MAX_FILE_BYTES + 1]
    except OSError as exc:
        raise CredentialsInvalid(
            f"cannot read the repository credentials file {path}: {exc.strerror or type(exc).__name__}",
            hint=f"mount the file at that path or fix --repo-credentials / {FILE_ENV}",
        ) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise CredentialsInvalid(f"{path}: the repository credentials file is larger than 1 MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CredentialsInvalid(f"{path}: the repository credentials file is not UTF-8 text (byte {exc.start})") \
            from exc
    return parse_credentials_text(text, str(path), path.parent)


def parse_credentials_text(text: str, label: str, base_dir: Path) -> list[Binding]:
    """The bindings of a credentials file's text; relative secret file paths are under ``base_dir``."""
    try:
        document: Any = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark is not None else label
        raise CredentialsInvalid(f"{where}: not valid YAML: {exc.problem or exc.context}",
                                 hint=f"see {DOCS} for the format") from exc
    except (YAMLError, ValueError, TypeError, RecursionError) as exc:
        raise CredentialsInvalid(f"{label}: not valid YAML ({type(exc).__name__})",
                                 hint=f"see {DOCS} for the format") from exc
    if not isinstance(document, dict):
        raise CredentialsInvalid(f"{label}: expected a mapping with a 'credentials' list",
                                 hint=f"see {DOCS} for the format")
    unknown = sorted(str(k) for k in document if k not in ("apiVersion", "kind", "credentials"))
    if unknown:
        raise CredentialsInvalid(f"{_at(label, document, unknown[0])}: unknown field {unknown[0]!r} "
                                 "(allowed: apiVersion, kind, credentials)")
    for key, expected in (("apiVersion", API_VERSION), ("kind", KIND)):
        if key in document and document[key] != expected:
            raise CredentialsInvalid(f"{_at(label, document, key)}: {key} must be {expected!r}")
    entries = document.get("credentials")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise CredentialsInvalid(f"{_at(label, document, 'credentials')}: credentials must be a list of entries")
    return [_entry(entry, index, entries, label, base_dir) for index, entry in enumerate(entries)]


def _at(label: str, container: Any, key: Any) -> str:
    """``label:LINE:COL`` of ``container[key]`` when ruamel knows it, else ``label``."""
    try:
        lc: Any = getattr(container, "lc")  # noqa: B009 - ruamel's round-trip position info, untyped
        line, column = lc.key(key) if isinstance(container, dict) else lc.item(key)
        return f"{label}:{int(line) + 1}:{int(column) + 1}"
    except (AttributeError, KeyError, TypeError, IndexError, ValueError):
        return label


def _entry(entry: Any, index: int, entries: Any, label: str, base_dir: Path) -> Binding:
    name = f"credentials[{index}]"
    if not isinstance(entry, dict):
        raise CredentialsInvalid(f"{_at(label, entries, index)}: {name}: expected a mapping with 'host' and "
                                 "username/passwordFile or tokenFile")
    origin = f"credentials file {label}, {name}"

    def fail(key: str, message: str) -> CredentialsInvalid:
        return CredentialsInvalid(f"{_at(label, entry, key)}: {name}.{key}: {message}",
                                  hint=f"see {DOCS} for the format")

    for key in entry:
        if key in ("password", "token"):
            raise fail(str(key), f"secret values do not belong in this file; put the value in a file (a mounted "
                                 f"Secret) and name it with {key}File")
        if key not in ENTRY_FIELDS:
            raise fail(str(key), f"unknown field (allowed: {', '.join(ENTRY_FIELDS)})")
    strings = {key: entry[key] for key in ("host", "username", "usernameFile", "passwordFile", "tokenFile")
               if key in entry}
    for key, value in strings.items():
        if not isinstance(value, str) or not value.strip():
            raise fail(key, "expected a non-empty string")
    insecure = entry.get("insecure", False)
    if not isinstance(insecure, bool):
        raise fail("insecure", "expected true or false")
    if "host" not in strings:
        raise fail("host", "missing: name the host the credential is for (host[:port][/path])")
    try:
        host, port, prefix = parse_host(strings["host"])
    except ValueError as exc:
        raise fail("host", str(exc)) from exc

    def secret(key: str) -> str | None:
        if key not in strings:
            return None
        path = Path(strings[key]).expanduser()
        return read_secret_file(path if path.is_absolute() else base_dir / path, f"{origin}.{key}")

    username = strings.get("username")
    if username is not None and "usernameFile" in strings:
        raise fail("usernameFile", "give either username or usernameFile, not both")
    username = username if username is not None else secret("usernameFile")
    token = secret("tokenFile")
    password = secret("passwordFile")
    if token is not None and (username is not None or password is not None):
        raise fail("tokenFile", "give either tokenFile or username + passwordFile, not both")
    if password is not None and username is None:
        raise fail("passwordFile", "a password needs a username (username or usernameFile)")
    if token is None and username is None:
        raise fail("host", "no credential: add username + passwordFile, or tokenFile")
    credentials = RepoCredentials(token=token) if token is not None else RepoCredentials(username, password)
    return Binding(host, port, prefix, credentials, insecure=insecure, origin=origin)


def parse_host(value: str) -> tuple[str, int | None, tuple[str, ...]]:
    """``host[:port][/path/prefix]`` -> (lower-case host, port or None, prefix segments). Raises
    ``ValueError`` with a message for the user (never a secret: hosts are not secret)."""
    text = value.strip()
    if "://" in text:
        raise ValueError(f"write the host without a scheme, e.g. {text.split('://', 1)[1].split('@')[-1]!r}")
    if any(c.isspace() for c in text) or any(c in text for c in "?#@\\"):
        raise ValueError("expected host[:port][/path] without spaces, '?', '#', '@' or '\\'")
    try:
        parts = urlsplit("//" + text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"expected host[:port][/path]: {exc}") from exc
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("expected host[:port][/path] with a host name")
    segments = prefix_segments(parts.path)
    if any(segment in (".", "..") for segment in segments):
        raise ValueError("the path prefix may not contain '.' or '..' segments")
    return host, port, segments


def read_secret_file(path: Path, what: str) -> str:
    """A secret value from a file (trailing newline dropped); errors name the file, never the value."""
    try:
        raw = path.read_bytes()[: MAX_FILE_BYTES + 1]
    except OSError as exc:
        raise CredentialsInvalid(f"{what}: cannot read {path}: {exc.strerror or type(exc).__name__}",
                                 hint="mount the Secret at that path or fix the entry") from exc
    try:
        value = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise CredentialsInvalid(f"{what}: {path} is not UTF-8 text") from exc
    if len(raw) > MAX_FILE_BYTES or not value or "\n" in value or "\r" in value or "\0" in value:
        raise CredentialsInvalid(f"{what}: {path} must hold exactly one non-empty line",
                                 hint="write the bare value into the file (a trailing newline is fine)")
    return value


# ------------------------------------------------------------------------------------------- env
def binding_from_env(env: Mapping[str, str], prefix: str = ENV_PREFIX) -> Binding | None:
    """The single-host form: ``EXTCTL_REPO_HOST`` + ``_USERNAME`` + ``_PASSWORD[_FILE]`` or
    ``_TOKEN[_FILE]`` (+ ``_INSECURE=true``); None when none of them is set."""
    origin = f"{prefix}_HOST"
    username = _env_value(env, f"{prefix}_USERNAME", origin)
    password = _env_value(env, f"{prefix}_PASSWORD", origin)
    token = _env_value(env, f"{prefix}_TOKEN", origin)
    host_text = env.get(f"{prefix}_HOST", "").strip()
    if not (username or password or token):
        if host_text:
            raise CredentialsInvalid(f"{prefix}_HOST is set but no credential is",
                                     hint=f"set {prefix}_USERNAME + {prefix}_PASSWORD_FILE or {prefix}_TOKEN_FILE")
        return None
    if not host_text:
        set_names = [n for n, v in (("USERNAME", username), ("PASSWORD", password), ("TOKEN", token)) if v]
        raise CredentialsInvalid(
            f"{', '.join(f'{prefix}_{n}' for n in set_names)} {'is' if len(set_names) == 1 else 'are'} set but "
            f"{prefix}_HOST is not: repository credentials are only sent to the host they are bound to",
            hint=f"add {prefix}_HOST=charts.example.com (host[:port][/path] of the repository or registry), or "
                 f"use a credentials file (--repo-credentials FILE, {DOCS})")
    try:
        host, port, path = parse_host(host_text)
    except ValueError as exc:
        raise CredentialsInvalid(f"{prefix}_HOST: {exc}") from exc
    if token and (username or password):
        raise CredentialsInvalid(
            f"both {prefix}_TOKEN and {prefix}_USERNAME/{prefix}_PASSWORD are set",
            hint=f"set either {prefix}_TOKEN or {prefix}_USERNAME and {prefix}_PASSWORD (or their _FILE variants)")
    if password and not username:
        raise CredentialsInvalid(f"{prefix}_PASSWORD is set but {prefix}_USERNAME is not",
                                 hint=f"set {prefix}_USERNAME (or {prefix}_USERNAME_FILE) as well")
    insecure_text = env.get(f"{prefix}_INSECURE", "").strip().lower()
    if insecure_text not in ("", "true", "false"):
        raise CredentialsInvalid(f"{prefix}_INSECURE must be true or false")
    credentials = RepoCredentials(token=token) if token else RepoCredentials(username, password)
    return Binding(host, port, path, credentials, insecure=insecure_text == "true", origin=origin)


def _env_value(env: Mapping[str, str], name: str, origin: str) -> str | None:
    direct = env.get(name)
    file_name = env.get(f"{name}_FILE")
    if direct and file_name:
        raise CredentialsInvalid(f"both {name} and {name}_FILE are set", hint=f"set only one of {name} and {name}_FILE")
    if direct:
        return direct
    if not file_name:
        return None
    return read_secret_file(Path(file_name), f"{name}_FILE ({origin} form)")
