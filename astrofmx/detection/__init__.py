"""astrofmx.detection"""
