"""Domain adapters -- terminal, customs, rail -- are a codec plus a channel.

A ``Domain`` says what a kind of local system speaks: the format it writes (read into
messages), the message types it takes and the codecs they are written with. Its adapter runs
the channel adapter that the settings choose (``channel: filedrop``, ``http`` or ``sql``) with
that channel's own settings and the domain's defaults wherever the settings leave them out.
Nothing of a channel is written again: the settings of ``terminal`` over filedrop *are*
filedrop's, with other defaults, so they validate, document and make the sample the same way.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal, Mapping

from pydantic import Field, ValidationError, create_model, model_validator
from pydantic_core import PydanticCustomError

from hub.adapter import Adapter, AdapterConfig, HubHandle, Outcome
from hub.envelope import Envelope

from .codecs import CodecSettings

CHANNELS = ("filedrop", "http", "sql")
DEFAULT_CHANNEL = "filedrop"
# The setting that gives a channel its output side: only with it does the domain's `receives`
# become the default (an sql adapter always has its inbox table).
OUTPUT = {"filedrop": "outbox_dir", "http": "webhook", "sql": None}
RECEIVES_HELP = ("type patterns of inbound messages handed to this adapter; by default (with "
                 "outbox_dir, or webhook, or always over sql) the domain's, shown here")
CHANNEL_HELP = ("how the local system is reached: filedrop (hot folders), http (REST API and "
                "webhook) or sql (outbox and inbox tables); the other settings are that "
                "channel's (see its README)")


class Domain:
    """A kind of local system: its format in, the types it takes and the codecs out."""

    def __init__(self, kind: str, *, format: str, receives: tuple[str, ...],
                 encode: Mapping[str, str]) -> None:
        self.kind = kind
        self.format = format
        self.receives = receives
        self.encode = dict(encode)
        self._settings: dict[str, type[AdapterConfig]] = {}

    def settings(self, channel: str) -> type[AdapterConfig]:
        """The settings model of this domain over ``channel``, made on first use (so that a
        channel's optional library is only needed by the configurations that use it)."""
        if channel not in CHANNELS:
            # An error of the key `channel`, so the configuration names its line.
            problem = PydanticCustomError("channel", "channel must be {known}, got {got}",
                                          {"known": ", ".join(CHANNELS[:-1]) + " or "
                                           + CHANNELS[-1], "got": repr(channel)})
            raise ValidationError.from_exception_data(
                f"{self.kind} settings", [{"type": problem, "loc": ("channel",),
                                           "input": channel}])
        if channel not in self._settings:
            self._settings[channel] = self._preset(channel)
        return self._settings[channel]

    def _preset(self, channel: str) -> type[AdapterConfig]:
        base = channel_adapter(channel).config_model
        # A base of its own, last, so that `channel` comes first in the sample, after `kind`.
        chosen = create_model(f"{channel.title()}Channel", __config__=base.model_config,
                              channel=(Literal[channel], Field(channel, description=CHANNEL_HELP)))
        fields: dict[str, Any] = {"receives": (list[str], Field([], description=RECEIVES_HELP))}
        if issubclass(base, CodecSettings):
            described = base.model_fields
            fields["format"] = (str, Field(self.format,
                                           description=described["format"].description))
            fields["encode"] = (dict[str, str], Field(dict(self.encode),
                                                      description=described["encode"].description))
        bases = (ByChannel, base, chosen) if channel == DEFAULT_CHANNEL else (base, chosen)
        model = create_model(f"{self.kind.title()}{channel.title()}Config", __base__=bases,
                             __doc__=f"The {self.kind} adapter over {channel}.",
                             __validators__={"_receives": self._receives_default(channel)},
                             **fields)
        model.domain = self
        folders = {"inbox_dir": f"/srv/porthub/{self.kind}/in",
                   "outbox_dir": f"/srv/porthub/{self.kind}/out"}
        model.sample_values = {**(folders if channel == "filedrop" else {}),
                               "receives": list(self.receives)}
        return model

    def _receives_default(self, channel: str) -> Any:
        output, receives = OUTPUT[channel], list(self.receives)

        def fill(cls: type, data: Any) -> Any:
            if isinstance(data, Mapping) and "receives" not in data and \
                    (output is None or data.get(output) is not None):
                return {**data, "receives": receives}
            return data

        return model_validator(mode="before")(fill)


@cache
def channel_adapter(channel: str) -> type[Adapter]:
    """The adapter class registered as ``channel`` (looked up once: a look through the
    installed entry points takes tens of milliseconds)."""
    from hub.plugins import adapter_class

    return adapter_class(channel)


class ByChannel:
    """Mixed into a domain's default (filedrop) settings, the class the entry point names:
    settings that choose another channel are validated by that channel's preset."""

    # ``domain`` (the Domain) is set on each preset; not annotated, so it is no setting.

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(obj, Mapping) and obj.get("channel", DEFAULT_CHANNEL) != DEFAULT_CHANNEL:
            return cls.domain.settings(obj["channel"]).model_validate(obj, *args, **kwargs)
        return super().model_validate(obj, *args, **kwargs)  # type: ignore[misc]


class DomainAdapter(Adapter):
    """Runs the channel adapter its settings choose; every verb is the channel's."""

    def __init__(self, name: str, config: AdapterConfig, hub: HubHandle) -> None:
        super().__init__(name, config, hub)
        self.channel = channel_adapter(config.channel)(name, config, hub)  # type: ignore[attr-defined]

    async def run(self) -> None:
        await self.channel.run()

    async def deliver(self, envelope: Envelope) -> None:
        await self.channel.deliver(envelope)

    async def on_outcome(self, outcome: Outcome) -> None:
        await self.channel.on_outcome(outcome)

    async def check(self) -> list[str]:
        return await self.channel.check()

    async def close(self) -> None:
        await self.channel.close()
