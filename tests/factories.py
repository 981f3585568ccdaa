"""factory_boy factories for Granary's models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from datasets.models import Dataset, Membership, Team


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-1")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.LazyAttribute(lambda team: team.slug.title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.MEMBER


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    slug = factory.Sequence(lambda n: f"dataset-{n}")
    title = factory.LazyAttribute(lambda d: f"The {d.slug} data")
    summary = "Rows about things"
    team = factory.SubFactory(TeamFactory)
    visibility = Dataset.Visibility.PUBLIC
