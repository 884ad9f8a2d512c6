"""rail: the railway -- CIM/SMGS consignment notes (XML) both ways, IFTSTA status reports in
(format: iftsta) -- over filedrop, http or sql (README.md beside this file)."""

from ..common.domain import Domain, DomainAdapter

RAIL = Domain("rail", format="smgs-xml", receives=("rail.consignment",),
              encode={"rail.consignment": "smgs-xml"})


class RailAdapter(DomainAdapter):
    config_model = RAIL.settings("filedrop")


__all__ = ["RAIL", "RailAdapter"]
