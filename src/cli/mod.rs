//! The command-line face of the binary: `plan`, `validate` and `drift`, with the same
//! property readers, policy builders and merge code the Lambda runs.
//!
//! - [`template`]: YAML or JSON templates, short forms written out.
//! - [`resolve`]: parameters, conditions and intrinsic functions; placeholders for values
//!   known only at deploy time.
//! - [`plan`]: each resource of ours, read, checked and planned by the resource types.
//! - [`stack`]: a deployed stack, read from CloudFormation.
//! - [`drift`]: planned against found.
//! - [`render`]: text and JSON.

pub mod drift;
pub mod plan;
pub mod render;
pub mod resolve;
pub mod stack;
pub mod template;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use clap::{Parser, Subcommand, ValueEnum};

use self::drift::DriftReport;
use self::plan::{Plan, Planning, parameters, plan_file, plan_template};
use self::render::Style;
use self::resolve::StackInputs;
use self::stack::DeployedStack;
use crate::aws::Clients;
use crate::guardrails::Guardrails;
use crate::resources::registry;
use crate::settings::Settings;

/// Exit codes: what CI and pre-commit hooks act on.
pub const EXIT_VALID: i32 = 0;
pub const EXIT_INVALID: i32 = 1;
pub const EXIT_UNREADABLE: i32 = 2;
pub const EXIT_DRIFTED: i32 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "vendor-access",
    about = "See what vendor-access resources will do before you deploy, and know when they drifted.\nRun without arguments (as Lambda runs it), the binary serves the Lambda runtime API.",
    version
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print what each resource of ours in TEMPLATE would create: names, trust and inline
    /// policies, session length, tags, KMS handling, CORS rules, bucket-policy statements.
    Plan {
        template: PathBuf,
        /// A template parameter (or AWS::Region, AWS::AccountId, AWS::StackName).
        #[arg(long = "parameter", short = 'p', value_name = "KEY=VALUE")]
        parameters: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Also read what exists now (read-only credentials) and show each document
        /// before and after; an existing stack of --stack-name is planned as an Update.
        #[arg(long)]
        live: bool,
        /// The stack's name (default: the template's file name).
        #[arg(long)]
        stack_name: Option<String>,
    },
    /// Check every resource of ours in each TEMPLATE; print only the problems.
    Validate {
        #[arg(required = true)]
        templates: Vec<PathBuf>,
        #[arg(long = "parameter", short = 'p', value_name = "KEY=VALUE")]
        parameters: Vec<String>,
    },
    /// Compare a deployed stack's resources of ours with what their properties produce.
    Drift {
        stack: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

/// Runs the command line; returns the exit code.
pub async fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.use_stderr() {
                true => EXIT_UNREADABLE,
                false => EXIT_VALID,
            };
        }
    };
    match run(cli.command).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("vendor-access: {message}");
            EXIT_UNREADABLE
        }
    }
}

async fn run(command: Command) -> Result<i32, String> {
    let style = Style {
        colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    match command {
        Command::Plan {
            template,
            parameters: given,
            format,
            live,
            stack_name,
        } => {
            let stack_name = stack_name.unwrap_or_else(|| stem(&template));
            let inputs = StackInputs::new(&stack_name, parameters(&given)?);
            let plan = plan_one(&template, inputs, live).await?;
            match format {
                Format::Text => print!("{}", render::plan_text(&plan, style)),
                Format::Json => println!("{}", json(&plan)),
            }
            Ok(verdict(&plan))
        }
        Command::Validate {
            templates,
            parameters: given,
        } => validate(&templates, &given).await,
        Command::Drift { stack, format } => {
            let clients = Clients::from_env().await;
            let report = drift(&clients, &stack).await?;
            match format {
                Format::Text => print!("{}", render::drift_text(&report, style)),
                Format::Json => println!("{}", json(&report)),
            }
            Ok(report.exit_code())
        }
    }
}

/// `plan`: the template planned offline, or with `live` against what exists (the deployed
/// stack's account, region and physical ids when there is one).
async fn plan_one(template: &Path, mut inputs: StackInputs, live: bool) -> Result<Plan, String> {
    let clients = match live {
        true => Clients::from_env().await,
        false => offline_clients(&inputs.region),
    };
    let stack = match live {
        true => DeployedStack::read(&clients.cloudformation, &inputs.stack_name)
            .await
            .map_err(|e| e.to_string())?,
        false => None,
    };
    if let Some(stack) = &stack {
        (inputs.account, inputs.region) = stack.account_and_region();
    } else if live {
        inputs.region = clients_region().unwrap_or(inputs.region);
    }
    let registry = registry(&clients, &plan_settings());
    let planning = Planning {
        registry: &registry,
        inputs,
        live,
        stack,
    };
    plan_file(template, &planning)
        .await
        .map_err(|e| e.to_string())
}

/// `validate`: every template planned offline, its problems printed; the worst exit code.
async fn validate(templates: &[PathBuf], given: &[String]) -> Result<i32, String> {
    let mut code = EXIT_VALID;
    for template in templates {
        let inputs = StackInputs::new(&stem(template), parameters(given)?);
        let clients = offline_clients(&inputs.region);
        let registry = registry(&clients, &plan_settings());
        let planning = Planning {
            registry: &registry,
            inputs,
            live: false,
            stack: None,
        };
        match plan_file(template, &planning).await {
            Ok(plan) => {
                print!("{}", render::problems_text(&plan));
                code = code.max(verdict(&plan));
            }
            Err(error) => {
                eprintln!("{error}");
                code = EXIT_UNREADABLE;
            }
        }
    }
    Ok(code)
}

/// Reads stack `name` and compares its resources of ours with what exists.
pub async fn drift(clients: &Clients, name: &str) -> Result<DriftReport, String> {
    let stack = DeployedStack::read(&clients.cloudformation, name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("stack {name} does not exist"))?;
    let mut inputs = StackInputs::new(&stack.name, Default::default());
    (inputs.account, inputs.region) = stack.account_and_region();
    let declared = stack
        .template
        .get("Parameters")
        .cloned()
        .unwrap_or_default();
    inputs.parameters = stack
        .parameters
        .iter()
        .filter(|(k, _)| declared.get(k.as_str()).is_some())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let registry = registry(clients, &plan_settings());
    let template = stack.template.clone();
    let stack_id = stack.stack_id.clone();
    let planning = Planning {
        registry: &registry,
        inputs,
        live: true,
        stack: Some(stack),
    };
    let plan = plan_template(&format!("stack {name}"), &template, &planning)
        .await
        .map_err(|e| e.to_string())?;
    Ok(DriftReport::from_plan(&plan, &stack_id))
}

fn verdict(plan: &Plan) -> i32 {
    match plan.valid() {
        true => EXIT_VALID,
        false => EXIT_INVALID,
    }
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn stem(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "stack".to_string())
}

/// Clients that are never called: an offline plan needs the resource types, not AWS.
fn offline_clients(region: &str) -> Clients {
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .build();
    Clients::new(&config)
}

fn clients_region() -> Option<String> {
    std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok()
}

/// The deployer's guardrails apply when set in the environment (the function's own
/// `VENDOR_ACCESS_ALLOWED_*` settings); otherwise every bucket, vendor and principal is
/// allowed, and the plan checks only the properties.
fn plan_settings() -> Settings {
    let mut settings = Settings::from_env();
    settings.guardrails = Guardrails::from_env_or_unrestricted();
    settings
}
