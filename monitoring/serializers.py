"""The shapes of the monitoring endpoints: query parameters in, reports out (the reports document the API)."""

import logging

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_LOG_LIMIT = 100


# Any case; empty: no filter.
@extend_schema_field({"type": "string", "enum": ["", *LOG_LEVELS, *(name.lower() for name in LOG_LEVELS)]})
class LogLevelField(serializers.CharField):
    pass


class LogQuerySerializer(serializers.Serializer):
    level = LogLevelField(
        required=False, allow_blank=True, help_text="Lowest level to include: " + ", ".join(LOG_LEVELS)
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        default=DEFAULT_LOG_LIMIT,
        help_text="Most records to return (capped by LOG_STORE_MAX_RECORDS).",
    )
    logger = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Only this logger and its children, e.g. `registry`.",
    )

    def validate_level(self, value: str) -> int:
        name = value.strip().upper()
        if not name:
            return logging.NOTSET
        if name not in LOG_LEVELS:
            raise serializers.ValidationError(f"Use one of {', '.join(LOG_LEVELS)}.")
        return logging.getLevelName(name)


class ComponentSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    latency_ms = serializers.FloatField()
    error = serializers.CharField(required=False)
    backend = serializers.CharField(required=False, help_text="Backend name; never its address.")


class LLMComponentSerializer(ComponentSerializer):
    name = serializers.CharField(required=False, help_text="The default LLM config.")
    model = serializers.CharField(required=False)


class HealthComponentsSerializer(serializers.Serializer):
    database = ComponentSerializer()
    channel_layer = ComponentSerializer(help_text="A message sent and received back through the layer.")
    cache = ComponentSerializer()
    llm = LLMComponentSerializer(help_text="Probe of the default LLM config, cached (HEALTH_CACHE_SECONDS).")


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["ok", "degraded", "down"],
        help_text="down: the database or the channel layer fails; degraded: another component fails.",
    )
    components = HealthComponentsSerializer()


class CpuSerializer(serializers.Serializer):
    percent = serializers.FloatField(help_text="Since the previous sample (never a blocking interval).")
    count = serializers.IntegerField(allow_null=True)
    load_average = serializers.ListField(child=serializers.FloatField(), allow_null=True)


class MemorySerializer(serializers.Serializer):
    total_bytes = serializers.IntegerField()
    available_bytes = serializers.IntegerField()
    used_bytes = serializers.IntegerField()
    percent = serializers.FloatField()


class DiskSerializer(serializers.Serializer):
    total_bytes = serializers.IntegerField()
    used_bytes = serializers.IntegerField()
    free_bytes = serializers.IntegerField()
    percent = serializers.FloatField()


class SystemSerializer(serializers.Serializer):
    cpu = CpuSerializer()
    memory = MemorySerializer()
    disk = DiskSerializer()


class ProcessSerializer(serializers.Serializer):
    pid = serializers.IntegerField()
    cpu_percent = serializers.FloatField()
    rss_bytes = serializers.IntegerField()
    threads = serializers.IntegerField()
    open_files = serializers.IntegerField(allow_null=True)
    file_descriptors = serializers.IntegerField(allow_null=True)
    connections = serializers.IntegerField(allow_null=True)
    uptime_seconds = serializers.FloatField()


class RunCountsSerializer(serializers.Serializer):
    active = serializers.IntegerField(help_text="queued + in_progress")
    queued = serializers.IntegerField()
    in_progress = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_status_last_hour = serializers.DictField(
        child=serializers.IntegerField(), help_text="Created in the last hour."
    )


class DistributionSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    p50 = serializers.FloatField(allow_null=True)
    p90 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)


class ToolCallFiguresSerializer(serializers.Serializer):
    ok = serializers.IntegerField()
    error = serializers.IntegerField()
    latency_seconds = DistributionSerializer(allow_null=True)


class TokenFiguresSerializer(serializers.Serializer):
    prompt = serializers.IntegerField()
    completion = serializers.IntegerField()
    total = serializers.IntegerField()


class LLMCacheFiguresSerializer(serializers.Serializer):
    hits = serializers.IntegerField()
    misses = serializers.IntegerField()


class AppFiguresSerializer(serializers.Serializer):
    runs_started = serializers.IntegerField()
    runs_finished = serializers.DictField(child=serializers.IntegerField(), help_text="By final status.")
    run_duration_seconds = DistributionSerializer()
    time_to_first_token_seconds = DistributionSerializer()
    tool_calls = serializers.DictField(
        child=ToolCallFiguresSerializer(), help_text="By kind: tool, agent, datasource."
    )
    tokens_by_model = serializers.DictField(child=TokenFiguresSerializer())
    cost_usd_by_model = serializers.DictField(
        child=serializers.FloatField(), help_text="USD spent, by model (priced models only)."
    )
    llm_cache = LLMCacheFiguresSerializer(help_text="LLM turns answered from the response cache, or not.")


class MetricsSerializer(serializers.Serializer):
    system = SystemSerializer()
    process = ProcessSerializer(help_text="The process that served this request.")
    runs = RunCountsSerializer()
    last_hour = AppFiguresSerializer(
        allow_null=True,
        help_text="Shared by all processes when REDIS_URL is set (null if Redis is unreachable).",
    )
    since_start = AppFiguresSerializer(
        help_text="Since the process started (all processes with PROMETHEUS_MULTIPROC_DIR)."
    )


class RegistryCountSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    enabled = serializers.IntegerField()


class StatusSerializer(serializers.Serializer):
    version = serializers.CharField()
    started_at = serializers.DateTimeField()
    uptime_seconds = serializers.FloatField()
    python = serializers.CharField()
    django = serializers.CharField()
    debug = serializers.BooleanField()
    database = serializers.DictField(
        child=serializers.CharField(), help_text="Backend vendor; never its URL."
    )
    channel_layer = serializers.CharField()
    cache = serializers.CharField()
    redis_configured = serializers.BooleanField()
    run_executor = serializers.CharField()
    log_store = serializers.DictField()
    metrics = serializers.DictField()
    registry = serializers.DictField(child=RegistryCountSerializer())
    threads = serializers.IntegerField()
    runs = serializers.IntegerField()


class ConnectivityEntrySerializer(serializers.Serializer):
    name = serializers.CharField()
    ok = serializers.BooleanField()
    latency_ms = serializers.FloatField()
    error = serializers.CharField(required=False)
    model = serializers.CharField(required=False)
    type = serializers.CharField(required=False)
    protocol = serializers.CharField(required=False, help_text="An agent's protocol: http or a2a.")


class ConnectivitySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    checked = serializers.IntegerField()
    failed = serializers.IntegerField()
    llm_configs = ConnectivityEntrySerializer(many=True)
    agents = ConnectivityEntrySerializer(many=True)
    datasources = ConnectivityEntrySerializer(many=True)
    mcp_servers = ConnectivityEntrySerializer(many=True, help_text="Enabled tools of type mcp.")


class LogRecordSerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    level = serializers.CharField()
    logger = serializers.CharField()
    message = serializers.CharField(help_text="Secrets scrubbed.")
    process = serializers.IntegerField()


class LogsSerializer(serializers.Serializer):
    logs = LogRecordSerializer(many=True, help_text="Newest first.")
