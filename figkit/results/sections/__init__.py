"""The sections of a results file, in the order they are written; a new section is a module here and a line
in ``SECTIONS``. Figures name the sections they read in their ``FigureSpec.sections``."""

from figkit.results.sections import (
    coactivation,
    cross_layer,
    document,
    domain_load,
    expert_counts,
    expert_load,
    method_agreement,
    methods,
    metric_info,
    metrics,
    model,
    position,
    router_confidence,
    router_saturation,
    routing_samples,
    routing_text,
    series,
    sweeps,
    token_stats,
    token_strings,
    vocabulary,
)

SECTIONS = {
    section.name: section
    for section in (
        document.SCHEMA_REF,
        document.TITLE,
        model.SECTION,
        methods.SECTION,
        metric_info.SECTION,
        metrics.SECTION,
        expert_counts.SECTION,
        sweeps.SECTION,
        series.SECTION,
        expert_load.SECTION,
        coactivation.SECTION,
        domain_load.SECTION,
        cross_layer.SECTION,
        router_saturation.SECTION,
        router_confidence.SECTION,
        method_agreement.SECTION,
        position.POSITIONS,
        position.LOCALITY,
        routing_samples.SECTION,
        routing_text.SECTION,
        token_stats.SECTION,
        token_strings.SECTION,
        vocabulary.SECTION,
    )
}
