"""customs: the customs system -- its decisions (XML or JSON) in; CUSCAR manifests and
pre-arrival declarations and other ports' decisions out -- over filedrop, http or sql
(README.md beside this file)."""

from ..common.domain import Domain, DomainAdapter

CUSTOMS = Domain("customs", format="customs-decision-xml",
                 receives=("customs.*", "cargo.manifest"),
                 encode={"customs.pre_arrival": "cuscar-pre-arrival",
                         "cargo.manifest": "cuscar-manifest",
                         "customs.decision": "customs-decision-xml"})


class CustomsAdapter(DomainAdapter):
    config_model = CUSTOMS.settings("filedrop")


__all__ = ["CUSTOMS", "CustomsAdapter"]
