"""Subcommands of the extctl CLI, one module each, each exposing ``register(subparsers)``.

``SUMMARIES`` is the one-line help of every command, shared by the CLI's command list (which imports a
command's module only when that command runs: the modules import the kubernetes client, gitpython,
ruamel.yaml …) and by each module's own ``add_parser`` call.
"""

SUMMARIES: dict[str, str] = {
    "catalog": "browse extension types and their chart versions",
    "fleet": "many clusters from one repository: what Git wants on each cluster against what each has",
    "plan": "show what a reconcile would change, without changing anything",
    "preview": "show what a pull request would change: versions, settings and rendered manifests",
    "reconcile": "run one reconcile pass against the current kube context",
    "resolve": "show the chart version each extension resolves to, with the rule and the reason",
    "run": "reconcile continuously (the controller's main loop)",
    "status": "show every extension's state, versions and health from the cluster (exit 1: failed)",
    "validate": "validate extension manifests",
    "version": "print the extctl version",
}
