"""astrofmx.backbones"""
