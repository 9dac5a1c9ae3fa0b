"""Video reception sessions (视频接访): township rooms, county officers and county oversight.

Built by its own issue; it will file ``video`` reports through :mod:`intake.pipeline`.
"""
