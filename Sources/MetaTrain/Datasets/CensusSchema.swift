/// The 42 fields of a Census-Income (KDD) record (`census-income.names`), in file order, and
/// what the converter makes of each.
enum CensusSchema {
    /// Role of one raw field.
    enum Role: Equatable {
        case feature(DatasetConfig.FeatureKind)
        /// Sampling weight: the names file says it must not be used by classifiers; dropped.
        case dropped
        /// Source of the `marital` task (`Never married`); not a feature.
        case maritalTask
        /// Source of the `income` task (`50000+.`).
        case incomeTask
    }

    static let fieldCount = 42
    static let ageField = 0
    static let educationField = 4
    static let maritalField = 7
    static let sexField = 12
    static let stateField = 21
    static let incomeField = 41

    /// (snake_case name, role) for fields 0…41.
    static let fields: [(name: String, role: Role)] = [
        ("age", .feature(.numeric(.standard))),
        ("class_of_worker", .feature(.categorical)),
        ("detailed_industry_recode", .feature(.categorical)),
        ("detailed_occupation_recode", .feature(.categorical)),
        ("education", .feature(.categorical)),
        ("wage_per_hour", .feature(.numeric(.log1p))),
        ("enroll_in_edu_inst_last_wk", .feature(.categorical)),
        ("marital_stat", .maritalTask),
        ("major_industry_code", .feature(.categorical)),
        ("major_occupation_code", .feature(.categorical)),
        ("race", .feature(.categorical)),
        ("hispanic_origin", .feature(.categorical)),
        ("sex", .feature(.categorical)),
        ("member_of_a_labor_union", .feature(.categorical)),
        ("reason_for_unemployment", .feature(.categorical)),
        ("full_or_part_time_employment_stat", .feature(.categorical)),
        ("capital_gains", .feature(.numeric(.log1p))),
        ("capital_losses", .feature(.numeric(.log1p))),
        ("dividends_from_stocks", .feature(.numeric(.log1p))),
        ("tax_filer_stat", .feature(.categorical)),
        ("region_of_previous_residence", .feature(.categorical)),
        ("state_of_previous_residence", .feature(.categorical)),
        ("detailed_household_and_family_stat", .feature(.categorical)),
        ("detailed_household_summary_in_household", .feature(.categorical)),
        ("instance_weight", .dropped),
        ("migration_code_change_in_msa", .feature(.categorical)),
        ("migration_code_change_in_reg", .feature(.categorical)),
        ("migration_code_move_within_reg", .feature(.categorical)),
        ("live_in_this_house_1_year_ago", .feature(.categorical)),
        ("migration_prev_res_in_sunbelt", .feature(.categorical)),
        ("num_persons_worked_for_employer", .feature(.numeric(.standard))),
        ("family_members_under_18", .feature(.categorical)),
        ("country_of_birth_father", .feature(.categorical)),
        ("country_of_birth_mother", .feature(.categorical)),
        ("country_of_birth_self", .feature(.categorical)),
        ("citizenship", .feature(.categorical)),
        ("own_business_or_self_employed", .feature(.categorical)),
        ("fill_inc_questionnaire_for_veterans_admin", .feature(.categorical)),
        ("veterans_benefits", .feature(.categorical)),
        ("weeks_worked_in_year", .feature(.numeric(.standard))),
        ("year", .feature(.categorical)),
        ("income_bucket", .incomeTask),
    ]

    /// Indices of the fields written as feature columns, in file order.
    static let featureFields: [Int] = fields.indices.filter {
        if case .feature = fields[$0].role { return true } else { return false }
    }

    /// The categorical feature columns' names (the possible scene columns), in file order.
    static let categoricalNames: [String] = featureFields.compactMap {
        if case .feature(.categorical) = fields[$0].role { fields[$0].name } else { nil }
    }

    /// Age bands used by crowd keys.
    static func ageBand(_ age: Int) -> String {
        switch age {
        case ..<18: "0-17"
        case 18..<25: "18-24"
        case 25..<35: "25-34"
        case 35..<45: "35-44"
        case 45..<55: "45-54"
        case 55..<65: "55-64"
        default: "65+"
        }
    }
}

/// How Census rows are grouped into crowds (the MAML task key, column `crowd`).
public enum CensusCrowd: String, Sendable, CaseIterable {
    /// Age band × sex × education, e.g. `35-44;Female;Bachelors degree(BA AB BS)`:
    /// 212 crowds in the test file, 139 with ≥ 100 rows.
    case ageSexEducation = "age-sex-education"
    /// State of previous residence × age band, e.g. `Utah;25-34`. 92% of rows have the state
    /// `Not in universe` (did not move), so 7 crowds hold 92% of the rows.
    case stateAge = "state-age"
}
