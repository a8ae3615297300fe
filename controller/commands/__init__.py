"""Subcommands of the extctl CLI, one module each, each exposing ``register(subparsers)``.

``SUMMARIES`` is the one-line help of every command, shared by the CLI's command list (which imports a
command's module only when that command runs: the modules import the kubernetes client, gitpython,
ruamel.yaml …) and by each module's own ``add_parser`` call. ``EXAMPLES`` is the epilog of each
command's ``--help`` (the CLI adds it, and the summary as the description where a command gives none).
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

EXAMPLES: dict[str, str] = {
    "catalog versions": "extctl catalog versions contoso.policy --source sample-repo --train stable\n"
                        "extctl catalog versions contoso.backup --source https://github.com/acme/ext.git "
                        "--path clusters/prod -o json",
    "fleet status": "extctl fleet status --source ./fleet-repo        # what Git wants on each cluster, offline\n"
                    "extctl fleet status --source https://github.com/acme/ext.git --context east --context west",
    "plan": "extctl plan --offline --source . --path sample-repo                       # exit 2: changes\n"
            "extctl plan --source https://github.com/acme/ext.git --kube-context prod -o json",
    "preview": "extctl preview --source . --base origin/main --head HEAD --path sample-repo\n"
               "extctl preview --source . --base origin/main --head HEAD --cluster --post github",
    "reconcile": "extctl reconcile --once --source https://github.com/acme/ext.git --helm-timeout 5m\n"
                 "extctl reconcile --once --source ./cluster-extensions --reset monitoring",
    "resolve": "extctl resolve --source sample-repo\n"
               "extctl resolve --source . --path sample-repo --installed monitoring=1.0.0 -o json",
    "run": "extctl run --source https://github.com/acme/ext.git --interval 60s --http-addr 0.0.0.0:8080\n"
           "extctl run --source ./cluster-extensions --interval 0     # passes on file changes only",
    "status": "extctl status                      # every extension, exit 1 if any failed\n"
              "extctl status monitoring -o wide --kube-context prod",
    "validate": "extctl validate sample-repo        # shorthand of --source sample-repo\n"
                "extctl validate --source https://github.com/acme/ext.git --path clusters/prod -o json",
    "version": "extctl version",
}
