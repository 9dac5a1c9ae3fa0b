"""Storage: the only layer that imports SQLAlchemy, Alembic or key material.

Everything above talks to :class:`storage.db.Database` and its named repositories, which take and
return the plain records of :mod:`storage.records`.
"""
