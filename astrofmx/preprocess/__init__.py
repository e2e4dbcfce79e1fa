"""astrofmx.preprocess"""
