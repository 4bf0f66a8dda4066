"""The web pages' read model: what they show: channels, their packages with latest versions, one package's
files, and search across package names.

Privacy is decided in SQL with the same rules as ``channels.access``: a private channel's
rows take part only for callers who may read it. Lists come a page at a time; only the
page's rows are decoded (records, about.json, labels), so a page costs the same in a
channel of 10 files and one of 10,000.
"""

from taipan.packages.read_model.channels import channel_view, channels_page, member_channels, readable_channel_ids
from taipan.packages.read_model.detail import package_detail
from taipan.packages.read_model.listing import MAX_QUERY, channel_packages, normalize_query
from taipan.packages.read_model.views import (
    PER_PAGE,
    VERSIONS_PER_PAGE,
    About,
    ChannelCard,
    ChannelView,
    FileRow,
    PackageDetail,
    PackageSummary,
    Page,
    Pending,
    SubdirCount,
    VersionRow,
    version_key,
)

__all__ = [
    "MAX_QUERY",
    "PER_PAGE",
    "VERSIONS_PER_PAGE",
    "About",
    "ChannelCard",
    "ChannelView",
    "FileRow",
    "PackageDetail",
    "PackageSummary",
    "Page",
    "Pending",
    "SubdirCount",
    "VersionRow",
    "channel_packages",
    "channel_view",
    "channels_page",
    "member_channels",
    "normalize_query",
    "package_detail",
    "readable_channel_ids",
    "version_key",
]
