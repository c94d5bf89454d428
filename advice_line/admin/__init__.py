"""Administration: staff accounts, clinicians, the rota, the officers' directory, settings.

Pages for the admin role (``/admin``) and ``flask`` commands doing the same for scripts,
over domain functions that audit every change with who made it.
"""
