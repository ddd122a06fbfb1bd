"""The kernel side: what runs inside a notebook's kernel.

``%vm`` / ``%pyenv`` magics, the widget classes, the REST client and the text
formatting. It talks to the server only over REST and imports nothing from
``vm/``, ``server/``, libvirt or gi, so ``%load_ext kernelswitch`` works in
any environment that has ipykernel (tested by loading it in a venv that has
only ipykernel). ipywidgets/anywidget are imported only when a widget is made.
"""
