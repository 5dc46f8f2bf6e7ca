"""The 平台版 page (``cwdx app platform``): see :mod:`cwdx_widgets.platform.page`."""

from cwdx_widgets.platform.page import PlatformApp, current_user

__all__ = ["PlatformApp", "current_user"]
