"""A small ORM application used by the middleware tests: users with addresses (an N+1 waiting
to happen) and orders pointing back at their user (a many-to-one N+1)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "bp_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    addresses: Mapped[list[Address]] = relationship(back_populates="user")


class Address(Base):
    __tablename__ = "bp_address"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("bp_users.id"))
    email: Mapped[str] = mapped_column(sa.String(100))
    user: Mapped[User] = relationship(back_populates="addresses")


def seed(session: Session, users: int = 6) -> None:
    """``users`` users with two addresses each."""
    for i in range(users):
        session.add(
            User(
                id=i + 1,
                name=f"user{i}",
                addresses=[Address(email=f"u{i}a@x.org"), Address(email=f"u{i}b@x.org")],
            )
        )
    session.commit()


def emails_lazy(session: Session) -> list[str]:
    """The N+1: one query for the users, then one per user for its addresses."""
    users = session.scalars(sa.select(User).order_by(User.id)).all()
    return [a.email for u in users for a in u.addresses]


def owners_lazy(session: Session) -> list[str]:
    """The many-to-one N+1: each address loads its user (once per user: the identity map)."""
    addresses = session.scalars(sa.select(Address).order_by(Address.id)).all()
    return [a.user.name for a in addresses]


def emails_eager(session: Session) -> list[str]:
    """The fix: two queries whatever the number of users."""
    from sqlalchemy.orm import selectinload

    stmt = sa.select(User).options(selectinload(User.addresses)).order_by(User.id)
    return [a.email for u in session.scalars(stmt).all() for a in u.addresses]
