//! AWS partitions and the ARNs built in them. A stack in `aws-cn` gets `arn:aws-cn:` ARNs
//! and `amazonaws.com.cn` service names; nothing here assumes the commercial partition.

/// An AWS partition, as a stack's own ARN names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Partition {
    #[default]
    Aws,
    AwsCn,
    AwsUsGov,
}

impl Partition {
    /// The partition of an ARN (a stack id, say); the commercial one when it names none
    /// this function knows.
    pub fn of_arn(arn: &str) -> Partition {
        match arn.split(':').nth(1) {
            Some("aws-cn") => Partition::AwsCn,
            Some("aws-us-gov") => Partition::AwsUsGov,
            _ => Partition::Aws,
        }
    }

    /// The partition of a region name.
    pub fn of_region(region: &str) -> Partition {
        if region.starts_with("cn-") {
            Partition::AwsCn
        } else if region.starts_with("us-gov-") {
            Partition::AwsUsGov
        } else {
            Partition::Aws
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }

    /// The domain service endpoints of the partition end in.
    pub fn dns_suffix(self) -> &'static str {
        match self {
            Partition::AwsCn => "amazonaws.com.cn",
            Partition::Aws | Partition::AwsUsGov => "amazonaws.com",
        }
    }

    /// `arn:PARTITION:s3:::BUCKET`.
    pub fn bucket_arn(self, bucket: &str) -> String {
        format!("arn:{}:s3:::{bucket}", self.name())
    }

    /// `arn:PARTITION:s3:::BUCKET/PREFIX*`: every object under a prefix.
    pub fn objects_arn(self, bucket: &str, prefix: &str) -> String {
        format!("arn:{}:s3:::{bucket}/{prefix}*", self.name())
    }

    /// `arn:PARTITION:iam::ACCOUNT:root`: the account as a principal.
    pub fn account_root(self, account: &str) -> String {
        format!("arn:{}:iam::{account}:root", self.name())
    }

    /// `s3.REGION.amazonaws.com` (or `.com.cn`): S3 as `kms:ViaService` names it.
    pub fn s3_service(self, region: &str) -> String {
        format!("s3.{region}.{}", self.dns_suffix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_comes_from_the_stack() {
        let cn = Partition::of_arn("arn:aws-cn:cloudformation:cn-north-1:1:stack/s/1");
        assert_eq!(cn, Partition::AwsCn);
        assert_eq!(cn.bucket_arn("b"), "arn:aws-cn:s3:::b");
        assert_eq!(
            cn.s3_service("cn-north-1"),
            "s3.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            Partition::of_arn("arn:aws-us-gov:cloudformation:us-gov-west-1:1:stack/s/1")
                .account_root("123456789012"),
            "arn:aws-us-gov:iam::123456789012:root"
        );
        assert_eq!(Partition::of_arn("not an arn"), Partition::Aws);
        assert_eq!(Partition::of_region("cn-northwest-1"), Partition::AwsCn);
    }
}
