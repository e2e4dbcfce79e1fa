"""astrofmx.classification"""
