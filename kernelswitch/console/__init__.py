"""Live VM consoles: QEMU's VNC (RFB) -> numpy framebuffer -> viewers.

Modules: :mod:`.rfb` (asyncio RFB client with QEMU's extensions),
:mod:`.framebuffer` (pixels, PNG), :mod:`.session` (one client per VM, fan-out,
previews), :mod:`.encoders` (websocket wire format), :mod:`.keys` and the
generated :mod:`.keymap` (physical keys), :mod:`.backend` (libvirt's
``openGraphicsFD``). No web or notebook code here: the server's handlers use it.
"""
