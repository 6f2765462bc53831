package grafana

//lint:file-ignore SA1019 Grafana imports and provisions dashboards of the classic JSON model (package dashboard); the SDK deprecates it for dashboardv2, which only Grafana 12 with its new dashboard API reads.

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// datasource is the Prometheus every panel queries: the dashboard's
// datasource variable, so that one file serves any Grafana.
var datasource = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// Panel sizes on Grafana's 24-column grid.
const (
	graphWidth  = 12
	graphHeight = 8
	statWidth   = 6
	statHeight  = 4
)

// Colours of the threshold steps.
const (
	colourOK       = "green"
	colourTarget   = "orange"
	colourCritical = "red"
)

// limit is a threshold drawn on a panel: the value from which a series is
// drawn in the colour.
type limit struct {
	value  float64
	colour string
}

// over returns the limits of a metric that should stay under target, and
// from which an alert fires at alert (0: none). Both are drawn.
func over(target, alert float64) []limit {
	l := []limit{{target, colourTarget}}
	if alert != 0 {
		l = append(l, limit{alert, colourCritical})
	}
	return l
}

// thresholds returns the steps of limits above a green base.
func thresholds(limits []limit) *dashboard.ThresholdsConfigBuilder {
	steps := []dashboard.Threshold{{Color: colourOK}}
	for _, l := range limits {
		steps = append(steps, dashboard.Threshold{Value: cog.ToPtr(l.value), Color: l.colour})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)
}

// rangeQuery is a query over the dashboard's time range, for graphs.
func rangeQuery(expr, legend string) *prometheus.DataqueryBuilder {
	return query(expr, legend).Range()
}

// instantQuery is a query at the range's end, for stats and tables.
func instantQuery(expr, legend string) *prometheus.DataqueryBuilder {
	return query(expr, legend).Instant()
}

// query is a query of expr whose series are named by legend (a template
// of their labels); "" lets Grafana name them.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	q := prometheus.NewDataqueryBuilder().Datasource(datasource).Expr(expr)
	if legend != "" {
		q = q.LegendFormat(legend)
	}
	return q
}

// graph is a time series panel; limits, when given, are drawn as dashed
// lines and colour the area above them.
func graph(title, description, unit string, limits []limit, queries ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource).
		Unit(unit).
		Min(0).
		Height(graphHeight).
		Span(graphWidth).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true).
			Calcs([]string{"lastNotNull", "max"})).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
	if len(limits) > 0 {
		p = p.Thresholds(thresholds(limits)).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashedAndArea))
	}
	for _, q := range queries {
		p = p.WithTarget(q)
	}
	return p
}

// single is a stat panel of the latest values, coloured by limits.
func single(title, description, unit string, limits []limit, queries ...*prometheus.DataqueryBuilder) *stat.PanelBuilder {
	p := stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource).
		Unit(unit).
		Height(statHeight).
		Span(statWidth).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		Thresholds(thresholds(limits))
	for _, q := range queries {
		p = p.WithTarget(q)
	}
	return p
}

// listing is a table of an instant query's series, one row per series
// with its labels as columns.
func listing(title, description string, query *prometheus.DataqueryBuilder, hidden ...string) *table.PanelBuilder {
	exclude := map[string]any{"Time": true, "__name__": true}
	for _, h := range hidden {
		exclude[h] = true
	}
	return table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource).
		Height(graphHeight).
		Span(graphWidth).
		// Grafana's schema wants the footer's reducer even when it is
		// not shown.
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{})).
		WithTarget(query.Format(prometheus.PromQueryFormatTable)).
		WithTransformation(dashboard.DataTransformerConfig{
			Id:      "organize",
			Options: map[string]any{"excludeByName": exclude},
		})
}

// variable is a template variable over the values of label in the series
// selector matches, with All (every value) selected by default.
func variable(name, label, selector string) *dashboard.QueryVariableBuilder {
	query := "label_values(" + selector + ", " + label + ")"
	all := dashboard.VariableOption{
		Selected: cog.ToPtr(true),
		Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr("All")},
		Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr("$__all")},
	}
	return dashboard.NewQueryVariableBuilder(name).
		Label(name).
		Datasource(datasource).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".+").
		Current(all)
}

// datasourceVariable lets the user pick the Prometheus the panels query.
func datasourceVariable() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder("datasource").
		Label("Prometheus").
		Type("prometheus")
}

// firingAlerts marks when alerts fired, from Prometheus's ALERTS series.
// The Watchdog always fires (it proves the pipeline works) and would
// cover every graph, so it is left out.
func firingAlerts() *dashboard.AnnotationQueryBuilder {
	return dashboard.NewAnnotationQueryBuilder().
		Name("Firing alerts").
		Datasource(datasource).
		Enable(true).
		IconColor(colourCritical).
		Expr(`ALERTS{alertstate="firing",alertname!="Watchdog"}`).
		TitleFormat("{{alertname}}").
		TextFormat("{{severity}} {{job}} {{instance}}").
		TagKeys("alertname,severity").
		Step("30s")
}

// newDashboard starts a dashboard with the settings all of Klaxon's share.
func newDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"klaxon"}).
		Refresh("30s").
		Time("now-3h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(datasourceVariable()).
		Annotation(firingAlerts())
}
