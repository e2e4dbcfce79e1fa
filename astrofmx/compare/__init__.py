"""astrofmx.compare"""
