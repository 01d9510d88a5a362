"""Shapes of the datasource endpoints: test, query, schema, tables and health (see API.md, datasources)."""

from rest_framework import serializers


class DataSourceProbeResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    latency_ms = serializers.FloatField()
    error = serializers.CharField(required=False, help_text="Why the test failed; only when ok is false.")


class DataSourceQueryRequestSerializer(serializers.Serializer):
    query = serializers.JSONField(
        help_text="Postgres: one SQL statement (string). Cube.js: a query object or its JSON string. "
        "HTTP: whatever the service's /query accepts."
    )
    parameters = serializers.DictField(
        required=False,
        allow_null=True,
        help_text='Postgres: values bound to %(name)s placeholders, e.g. {"status": "active"}. '
        "HTTP: passed on as they are. Cube.js: none (use the query's filters).",
    )

    def validate_query(self, value: object) -> object:
        if value is None or value == "" or value == {}:
            raise serializers.ValidationError("Send a query.")
        return value


class DataSourceQueryResultSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField()),
        help_text="One list of JSON values per row, in the order of `columns`. Bytes are base64, "
        "dates ISO 8601, intervals ISO 8601 durations.",
    )
    row_count = serializers.IntegerField(help_text="Rows in `rows`.")
    truncated = serializers.BooleanField(help_text="More rows were there than `config.max_rows` allows.")
    latency_ms = serializers.FloatField()


class DataSourceColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    kind = serializers.ChoiceField(
        choices=["measure", "dimension"], required=False, help_text="Cube.js only: what the member is."
    )


class DataSourceTableSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="A table or view (Postgres), a cube (Cube.js).")
    columns = DataSourceColumnSerializer(many=True)


class DataSourceSchemaSerializer(serializers.Serializer):
    tables = DataSourceTableSerializer(many=True)


class DataSourceTablesSerializer(serializers.Serializer):
    tables = serializers.ListField(child=serializers.CharField())


class DataSourceHealthRowSerializer(DataSourceProbeResultSerializer):
    name = serializers.CharField()
    type = serializers.CharField()


class DataSourcesHealthSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    healthy = serializers.IntegerField()
    datasources = DataSourceHealthRowSerializer(many=True)


class DataSourceErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="e.g. invalid_query, read_only_violation, upstream_timeout.")
    message = serializers.CharField()
    # DRF's metaclass takes declared fields off the class, so this one may be called `fields`.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class DataSourceErrorSerializer(serializers.Serializer):
    error = DataSourceErrorDetailSerializer()
