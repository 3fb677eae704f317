"""Entry point of `pulumi up` in this repository (Pulumi.yaml's ``main``); see infra/pulumi_main.py."""

from scalecloud.infra.kube.pulumi_main import main

main()
