"""What reaches into a running guest: its serial port, shared folders, port forwards.

- :mod:`.serial` — the serial terminal (a libvirt console stream, fanned out)
- :mod:`.shares` — host folders shared with the guest (virtiofs)
- :mod:`.forwards` — host ports forwarded to guest ports (QEMU user networking)
"""
