"""cwdx 的 ipywidgets 界面组件（以 ``cwdx_widgets`` 导入）。核心逻辑都在 ``cwdx`` 包中。"""
