"""What `pip install` puts in place for switchable kernels."""

from __future__ import annotations

from importlib.metadata import entry_points


def test_provisioner_and_kernelspec_are_installed() -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    from kernelswitch.kernels import KernelSwitchProvisioner

    (ep,) = [e for e in entry_points(group="jupyter_client.kernel_provisioners")
             if e.name == "kernelswitch-provisioner"]
    assert ep.load() is KernelSwitchProvisioner
    spec = KernelSpecManager().get_kernel_spec("kernelswitch")
    assert spec.display_name == "Python (kernelswitch)"
    assert spec.metadata["kernel_provisioner"]["provisioner_name"] == "kernelswitch-provisioner"
    assert spec.argv[1:3] == ["-m", "ipykernel_launcher"]
